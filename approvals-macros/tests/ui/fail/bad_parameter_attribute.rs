use approvals::{Error, requires_approval};

#[requires_approval]
async fn send_email(
    #[approval(skp)] to: String,
    #[approval(skip, mask = "drop")] cc: String,
    #[approval(rename = "to")] bcc: String,
    #[approval(skip, skip)] pool: String,
) -> Result<(), Error> {
    let _ = (to, cc, bcc, pool);
    Ok(())
}

fn main() {}
