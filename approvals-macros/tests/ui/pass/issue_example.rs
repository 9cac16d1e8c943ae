use approvals::requires_approval;

pub struct Pool;
pub struct Report {
    pub rows: usize,
}

#[derive(Debug)]
pub enum ExportError {
    Approval(approvals::Error),
}

impl From<approvals::Error> for ExportError {
    fn from(error: approvals::Error) -> Self {
        ExportError::Approval(error)
    }
}

/// Export the selected customers to a bucket.
#[requires_approval(risk = "high", approvers = "data-governance", quorum = 2, timeout = "15m")]
async fn export_customers(
    bucket: &str,
    #[approval(mask = "email")] contact: String,
    #[approval(skip)] db: &Pool,
) -> Result<Report, ExportError> {
    let _ = (bucket, contact, db);
    Ok(Report { rows: 0 })
}

fn main() {
    let _ = export_customers("s3://exports", String::new(), &Pool);
}
