//! Every function shape `#[requires_approval]` supports compiles, runs its
//! body once through the gate, and sends the arguments it should.

#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::sync::Arc;

use approvals::audit::{AuditEvent, MemoryAudit};
use approvals::channel::async_trait;
use approvals::policy::{Policy, Rule};
use approvals::{Error, Gate, requires_approval};
use serde::Serialize;

fn allowing() -> (Gate, MemoryAudit) {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("everything").allow()))
        .audit(audit.clone())
        .default_requester("agent:shapes")
        .build();
    (gate, audit)
}

/// The masked arguments of the last request (the default masker keeps the
/// keys and replaces values with type labels).
fn last_arguments(audit: &MemoryAudit) -> serde_json::Value {
    audit
        .records()
        .iter()
        .rev()
        .find_map(|record| match &record.event {
            AuditEvent::Requested { arguments, .. } => Some(arguments.as_value().clone()),
            _ => None,
        })
        .unwrap()
}

fn last_action(audit: &MemoryAudit) -> String {
    audit
        .records()
        .iter()
        .rev()
        .find_map(|record| match &record.event {
            AuditEvent::Requested { action, .. } => Some(action.to_string()),
            _ => None,
        })
        .unwrap()
}

fn keys(value: &serde_json::Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[requires_approval]
async fn free_function(a: u32, b: &str) -> Result<String, Error> {
    Ok(format!("{a}{b}"))
}

#[requires_approval(name = "shapes.patterns")]
async fn patterns((a, b): (u32, u32), mut x: u32, _: bool, r#type: u8) -> Result<u32, Error> {
    x += a + b + u32::from(r#type);
    Ok(x)
}

#[requires_approval]
async fn generic<T, U>(items: Vec<T>, label: &U) -> Result<usize, Error>
where
    T: Serialize + Clone + Send,
    U: Serialize + Debug + Sync + ?Sized,
{
    let _ = format!("{label:?}");
    Ok(items.len())
}

#[requires_approval]
async fn lifetimes<'a, 'b: 'a>(first: &'a str, second: &'b str) -> Result<&'a str, Error> {
    Ok(if first.len() >= second.len() {
        first
    } else {
        second
    })
}

#[requires_approval]
async fn impl_trait_argument(
    values: impl IntoIterator<Item = u32> + Serialize + Send,
) -> Result<u32, Error> {
    Ok(values.into_iter().sum())
}

#[requires_approval]
async fn impl_trait_return(limit: u32) -> Result<impl Iterator<Item = u32>, Error> {
    Ok((0..limit).filter(|n| n % 2 == 0))
}

#[requires_approval]
async fn early_return_and_question_mark(input: String) -> Result<u32, ToolError> {
    if input.is_empty() {
        return Ok(0);
    }
    let parsed: u32 = input.parse()?;
    Ok(parsed)
}

impl From<std::num::ParseIntError> for ToolError {
    fn from(error: std::num::ParseIntError) -> Self {
        ToolError::Tool(error.to_string())
    }
}

#[requires_approval]
async fn with_anyhow(path: String) -> anyhow::Result<usize> {
    anyhow::ensure!(!path.is_empty(), "empty path");
    Ok(path.len())
}

#[derive(Debug)]
enum ToolError {
    Approval(Error),
    Tool(String),
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Approval(error) => write!(f, "approval: {error}"),
            ToolError::Tool(message) => write!(f, "tool: {message}"),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<Error> for ToolError {
    fn from(error: Error) -> Self {
        ToolError::Approval(error)
    }
}

#[requires_approval]
async fn custom_error(fail: bool) -> Result<(), ToolError> {
    if fail {
        return Err(ToolError::Tool("failed".into()));
    }
    Ok(())
}

struct Service {
    gate: Gate,
    calls: u32,
}

impl Service {
    #[requires_approval(gate = self.gate)]
    async fn by_ref(&self, id: u64) -> Result<u64, Error> {
        Ok(id + u64::from(self.calls))
    }

    #[requires_approval(gate = self.gate)]
    async fn by_mut(&mut self, by: u32) -> Result<u32, Error> {
        self.calls += by;
        Ok(self.calls)
    }

    #[requires_approval(gate = &self.gate)]
    async fn by_value(self, id: u64) -> Result<u64, Error> {
        Ok(id + u64::from(self.calls))
    }

    #[requires_approval(gate = self.gate.clone())]
    async fn by_arc(self: Arc<Self>, id: u64) -> Result<u64, Error> {
        Ok(id + u64::from(self.calls))
    }

    #[requires_approval(gate = self.gate)]
    async fn by_mut_value(mut self, by: u32) -> Result<u32, Error> {
        self.calls += by;
        Ok(self.calls)
    }
}

#[async_trait]
trait Tool {
    async fn call(&self, input: String) -> Result<usize, Error>;
    async fn call_mut(&mut self, (a, b): (u32, u32)) -> Result<u32, Error>;
    async fn call_arc(self: Arc<Self>, input: u32) -> Result<u32, Error>;
}

struct Counter {
    gate: Gate,
    total: u32,
}

#[async_trait]
impl Tool for Counter {
    /// Counts the characters of the input.
    #[requires_approval(gate = self.gate, risk = "low")]
    async fn call(&self, #[approval(rename = "text")] input: String) -> Result<usize, Error> {
        Ok(input.len() + self.total as usize)
    }

    #[requires_approval(gate = self.gate)]
    async fn call_mut(&mut self, (a, b): (u32, u32)) -> Result<u32, Error> {
        self.total += a + b;
        Ok(self.total)
    }

    #[requires_approval(gate = self.gate.clone())]
    async fn call_arc(self: Arc<Self>, input: u32) -> Result<u32, Error> {
        Ok(self.total + input)
    }
}

#[async_trait(?Send)]
trait LocalTool {
    async fn local(&self, input: std::rc::Rc<u32>) -> Result<u32, Error>;
}

#[async_trait(?Send)]
impl LocalTool for Counter {
    #[requires_approval(gate = self.gate)]
    async fn local(&self, #[approval(skip)] input: std::rc::Rc<u32>) -> Result<u32, Error> {
        Ok(*input + self.total)
    }
}

#[tokio::test]
async fn free_generic_lifetime_and_impl_trait_functions_run() {
    let (gate, audit) = allowing();
    approvals::scope(gate, async {
        assert_eq!(free_function(4, "2").await.unwrap(), "42");
        assert_eq!(keys(&last_arguments(&audit)), ["a", "b"]);
        assert_eq!(last_action(&audit), "macro_shapes::free_function");

        assert_eq!(patterns((1, 2), 3, true, 4).await.unwrap(), 10);
        assert_eq!(keys(&last_arguments(&audit)), ["arg0", "arg2", "type", "x"]);
        assert_eq!(last_action(&audit), "shapes.patterns");

        assert_eq!(generic(vec![1, 2, 3], "label").await.unwrap(), 3);
        assert_eq!(lifetimes("long", "s").await.unwrap(), "long");
        assert_eq!(impl_trait_argument(vec![1, 2, 3]).await.unwrap(), 6);
        assert_eq!(
            impl_trait_return(7).await.unwrap().collect::<Vec<_>>(),
            [0, 2, 4, 6]
        );
        assert_eq!(
            early_return_and_question_mark(String::new()).await.unwrap(),
            0
        );
        assert_eq!(
            early_return_and_question_mark("12".into()).await.unwrap(),
            12
        );
        assert!(early_return_and_question_mark("x".into()).await.is_err());
        assert_eq!(with_anyhow("abc".into()).await.unwrap(), 3);
        assert!(with_anyhow(String::new()).await.is_err());
        assert!(custom_error(false).await.is_ok());
        assert!(matches!(custom_error(true).await, Err(ToolError::Tool(_))));
    })
    .await;
}

#[tokio::test]
async fn errors_of_the_gate_arrive_as_the_functions_own_error() {
    // No gate in scope and no default: fail closed, as each function's error.
    assert!(matches!(free_function(1, "x").await, Err(Error::NoGate)));
    assert!(
        with_anyhow("x".into())
            .await
            .unwrap_err()
            .downcast_ref::<Error>()
            .is_some_and(|error| matches!(error, Error::NoGate))
    );
    assert!(matches!(
        custom_error(false).await,
        Err(ToolError::Approval(Error::NoGate))
    ));
}

#[tokio::test]
async fn methods_with_every_receiver_run() {
    let (gate, audit) = allowing();
    let mut service = Service {
        gate: gate.clone(),
        calls: 1,
    };
    assert_eq!(service.by_ref(41).await.unwrap(), 42);
    assert_eq!(
        keys(&last_arguments(&audit)),
        ["id"],
        "the receiver is not an argument"
    );
    assert_eq!(last_action(&audit), "macro_shapes::Service::by_ref");
    assert_eq!(service.by_mut(2).await.unwrap(), 3);
    let service = Arc::new(service);
    assert_eq!(Arc::clone(&service).by_arc(1).await.unwrap(), 4);
    let service = Arc::try_unwrap(service).ok().unwrap();
    let service = Service {
        gate: service.gate.clone(),
        calls: service.calls,
    };
    assert_eq!(
        Service {
            gate: service.gate.clone(),
            calls: 0
        }
        .by_mut_value(5)
        .await
        .unwrap(),
        5
    );
    assert_eq!(service.by_value(1).await.unwrap(), 4);
    assert_eq!(
        audit
            .of_kind(approvals::audit::AuditEventKind::Executed)
            .len(),
        5
    );
}

#[tokio::test]
async fn async_trait_methods_run() {
    let (gate, audit) = allowing();
    let mut counter = Counter { gate, total: 0 };
    assert_eq!(counter.call("abc".into()).await.unwrap(), 3);
    assert_eq!(keys(&last_arguments(&audit)), ["text"]);
    let Some(AuditEvent::Requested {
        description, risk, ..
    }) = audit.records().first().map(|record| record.event.clone())
    else {
        panic!("no request recorded");
    };
    assert_eq!(description, "Counts the characters of the input.");
    assert_eq!(risk, approvals::Risk::Low);

    assert_eq!(last_action(&audit), "macro_shapes::<Counter as Tool>::call");
    assert_eq!(counter.call_mut((1, 2)).await.unwrap(), 3);
    assert_eq!(keys(&last_arguments(&audit)), ["arg0"]);
    let boxed: Box<dyn Tool + Send + Sync> = Box::new(Counter {
        gate: counter.gate.clone(),
        total: 1,
    });
    assert_eq!(boxed.call("ab".into()).await.unwrap(), 3);
    assert_eq!(Arc::new(counter).call_arc(4).await.unwrap(), 7);
}

#[tokio::test]
async fn async_trait_without_send_runs() {
    let (gate, audit) = allowing();
    let counter = Counter { gate, total: 1 };
    assert_eq!(counter.local(std::rc::Rc::new(2)).await.unwrap(), 3);
    assert!(keys(&last_arguments(&audit)).is_empty());
}

#[tokio::test]
async fn gated_futures_are_send() {
    let (gate, _audit) = allowing();
    let task = tokio::spawn(approvals::scope(gate.clone(), async {
        free_function(1, "x").await
    }));
    assert_eq!(task.await.unwrap().unwrap(), "1x");
    let service = Service { gate, calls: 0 };
    let task = tokio::spawn(async move { service.by_ref(1).await });
    assert_eq!(task.await.unwrap().unwrap(), 1);
}

/// The attribute above `#[tokio::test]`: the test itself is gated.
#[requires_approval(gate = allowing().0)]
#[tokio::test]
async fn a_gated_tokio_test() -> Result<(), Error> {
    assert_eq!(1 + 1, 2);
    Ok(())
}
