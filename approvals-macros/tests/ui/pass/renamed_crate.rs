//! A crate that reaches `approvals` by another path (a renamed dependency,
//! or a re-export) names it with `crate = "…"`.

mod platform {
    pub mod gatekeeper {
        pub use approvals::*;
    }
}

use platform::gatekeeper::{Error, requires_approval};

#[requires_approval(crate = "crate::platform::gatekeeper", risk = "low")]
async fn read_record(id: u64) -> Result<u64, Error> {
    Ok(id)
}

fn main() {
    let _ = read_record(1);
}
