use approvals::{Error, requires_approval};

pub struct Filter {
    pub country: String,
}

#[requires_approval]
async fn export_customers(bucket: String, filter: Filter) -> Result<(), Error> {
    let _ = (bucket, filter);
    Ok(())
}

fn main() {}
