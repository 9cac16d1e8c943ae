use approvals::{Error, requires_approval};

#[requires_approval]
async fn export_customers(#[approval(editable, skip)] limit: u32) -> Result<(), Error> {
    let _ = limit;
    Ok(())
}

fn main() {}
