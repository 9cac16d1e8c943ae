use approvals::{Error, requires_approval};

#[requires_approval(approvers = ["alice@example.com", "Alice@Example.com", "bob@example.com"], quorum = 3)]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
