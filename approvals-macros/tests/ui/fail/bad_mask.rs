use approvals::{Error, requires_approval};

#[requires_approval]
async fn send_email(
    #[approval(mask = "emial")] to: String,
    #[approval(mask = "email:hide")] cc: String,
) -> Result<(), Error> {
    let _ = (to, cc);
    Ok(())
}

fn main() {}
