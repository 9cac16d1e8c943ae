use approvals::requires_approval;

#[derive(Debug)]
pub struct MailError;

#[requires_approval]
async fn send_email(to: String) -> Result<(), MailError> {
    let _ = to;
    Ok(())
}

fn main() {}
