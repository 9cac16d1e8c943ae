use approvals::requires_approval;

#[requires_approval]
async fn count_rows(table: String) -> u64 {
    table.len() as u64
}

fn main() {}
