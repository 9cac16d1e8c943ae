use approvals::{Error, requires_approval};

#[requires_approval]
async fn export_customers(#[approval(editable)] bucket: &str) -> Result<(), Error> {
    let _ = bucket;
    Ok(())
}

fn main() {}
