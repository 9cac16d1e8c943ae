use approvals::{Error, requires_approval};

#[requires_approval(quorum = 2, timeout = "5m")]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
