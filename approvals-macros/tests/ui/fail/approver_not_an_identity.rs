use approvals::{Error, requires_approval};

// A right-to-left override makes the address read as another one.
#[requires_approval(approvers = ["alice@example.com", "bob\u{202E}moc.elpmaxe@"])]
async fn rotate_key(key_id: String) -> Result<(), Error> {
    let _ = key_id;
    Ok(())
}

fn main() {}
