use approvals::{Error, requires_approval};

#[derive(serde::Serialize)]
pub struct Filter {
    pub country: String,
}

#[requires_approval]
async fn export_customers(
    #[approval(editable)] bucket: &str,
    #[approval(editable)] filter: Filter,
) -> Result<(), Error> {
    let _ = (bucket, filter);
    Ok(())
}

fn main() {}
