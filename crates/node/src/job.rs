//! Work off the JS thread: a closure run on libuv's thread pool (napi async work), whose
//! result resolves a promise, or whose [`Failure`] rejects it with a coded JS `Error`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Task};

use crate::error::{Failure, Outcome};

type Work<T> = Box<dyn FnOnce() -> Outcome<T> + Send>;
type Settled = Box<dyn FnOnce(&Env) + Send>;

/// A closure run once on the thread pool. Returned to JS as `AsyncTask<Job<T>>` (a promise).
pub struct Job<T> {
    work: Option<Work<T>>,
    settled: Option<Settled>,
}

impl<T> Job<T> {
    pub fn new(work: impl FnOnce() -> Outcome<T> + Send + 'static) -> Self {
        Self { work: Some(Box::new(work)), settled: None }
    }

    /// Runs `f` on the JS thread once the promise settled (resolved or rejected), before JS
    /// continues: the place to end a "one at a time" claim.
    pub fn on_settled(mut self, f: impl FnOnce(&Env) + Send + 'static) -> Self {
        self.settled = Some(Box::new(f));
        self
    }

    /// A job that only rejects (the promise fails without touching the pool's work).
    pub fn fail(failure: Failure) -> Self {
        Self::new(move || Err(failure))
    }
}

impl<T> Task for Job<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    type Output = Outcome<T>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let Some(work) = self.work.take() else {
            return Ok(Err(Failure::internal("a job ran twice")));
        };
        Ok(catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Failure::internal(format!("the binding's worker panicked: {what}")))
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<T> {
        if let Some(settled) = self.settled.take() {
            settled(&env);
        }
        output.map_err(|f| f.into_napi(&env))
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<T> {
        if let Some(settled) = self.settled.take() {
            settled(&env);
        }
        Err(err)
    }
}
