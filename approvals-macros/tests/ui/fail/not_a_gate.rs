use approvals::{Error, requires_approval};

#[requires_approval(gate = 42)]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
