use approvals::{Error, requires_approval};

#[requires_approval(risk = "high", approvers = "sre", risk = "low")]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
