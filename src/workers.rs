//! The worker threads of a run. The library never touches rayon's global pool: what it does in
//! parallel (sorting the results, rendering the report) runs on the pool of the caller, and a
//! caller that bounds the threads (`-j`) runs the whole of it inside [`Workers::run`].

use std::fmt;

/// A pool of worker threads.
pub struct Workers {
    pool: rayon::ThreadPool,
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

impl Workers {
    /// A pool of `threads` threads, or of one per core when `None`. The error says why the
    /// threads could not be started.
    pub fn new(threads: Option<usize>) -> Result<Workers, String> {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(n) = threads {
            builder = builder.num_threads(n.max(1));
        }
        let pool = builder.build().map_err(|e| {
            let n = threads.map_or_else(|| "the worker".to_string(), |n| n.to_string());
            format!("cannot start {n} threads: {e}")
        })?;
        Ok(Workers { pool })
    }

    /// How many threads the pool has.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` with this pool as the one every parallel step uses.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_steps_run_on_the_pool_not_the_global_one() {
        let two = Workers::new(Some(2)).unwrap();
        assert_eq!(two.threads(), 2);
        assert_eq!(two.run(rayon::current_num_threads), 2);
        let one = Workers::new(Some(1)).unwrap();
        assert_eq!(one.run(rayon::current_num_threads), 1);
    }
}
