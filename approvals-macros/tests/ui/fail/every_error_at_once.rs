use approvals::requires_approval;

// Every problem is reported in one pass, and the function is still emitted
// (so `main` below sees it).
#[requires_approval(rsk = "high", risk = "severe", quorum = 0, timeout = "soon")]
async fn rotate_key(#[approval(mask = "nope")] key_id: String) -> u64 {
    key_id.len() as u64
}

fn main() {
    let _ = rotate_key(String::new());
}
