use approvals::{Error, requires_approval};

#[requires_approval(approvers = "sre", timeout = "15 minutes please")]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
