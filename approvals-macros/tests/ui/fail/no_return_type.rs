use approvals::requires_approval;

#[requires_approval]
async fn notify(channel: String) {
    let _ = channel;
}

fn main() {}
