use approvals::{Error, Gate, requires_approval};

fn gate() -> Gate {
    Gate::builder().audit(approvals::audit::MemoryAudit::new()).build()
}

/// Doc comments become the description unless `description` is given.
#[requires_approval(
    name = "billing.refund",
    description = "Refund a customer's last invoice",
    risk = "CRITICAL",
    approvers = ["group:finance", "carol@example.com", "agent:auditor"],
    quorum = 3,
    timeout = "1h30m",
    gate = gate(),
    requester = "agent:support-bot",
    justification = "the customer reports a double charge",
)]
async fn refund(
    #[approval(mask = "name:pseudonym")] customer: String,
    #[approval(rename = "amount")] cents: u64,
    #[approval(mask = "IBAN")] account: String,
) -> Result<u64, Error> {
    let _ = (customer, account);
    Ok(cents)
}

fn main() {
    let _ = refund(String::new(), 1, String::new());
}
