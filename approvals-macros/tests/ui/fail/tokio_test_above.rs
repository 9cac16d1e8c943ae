use approvals::requires_approval;

#[tokio::test]
#[requires_approval]
async fn gated_test() -> Result<(), approvals::Error> {
    Ok(())
}

fn main() {}
