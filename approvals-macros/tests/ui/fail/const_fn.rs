use approvals::{Error, requires_approval};

#[requires_approval]
const fn rotate_key(key_id: u64) -> Result<u64, Error> {
    Ok(key_id)
}

fn main() {}
