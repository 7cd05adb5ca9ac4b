//! The threads that answer lists of findings, at a lower scheduling priority than the rest of
//! the server (nice 10 on Linux): when people page through findings while an import runs on a
//! busy machine, the import keeps most of the processor and the reads share what is left.
//!
//! While an import runs, reads also start at most so many a second per core ([`paced_per_core`]):
//! a page costs its reader and the server about a millisecond of processor even when it is
//! answered from memory, and a flood of them (a script polling, many people at once) would
//! otherwise take the import's share.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};

/// The read threads' priority, from 0 (lowest) to 99: on Linux, niceness 10, about a tenth of a
/// normal thread's share of a core both want.
const PRIORITY: u8 = 23;

/// Reads that start in a second, per core, while an import runs. On SQLite a read's work is
/// all done on its read thread, below the import's priority. On PostgreSQL part of it is done by
/// the database's own processes, at the import's priority: fewer start there, or readers would
/// slow the import down by a third (measured with 16 readers on two cores).
pub(super) fn paced_per_core(postgres: bool) -> u32 {
    if postgres { 50 } else { 130 }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads running jobs in arrival order.
pub(super) struct ReadThreads {
    jobs: Sender<Job>,
    /// The time between two reads' starts while an import runs.
    spacing: Duration,
    /// When the next paced read may start.
    next_start: Mutex<Instant>,
}

impl ReadThreads {
    /// Starts `count` threads, whose reads start at most `paced_per_core` a second per core while
    /// an import runs.
    pub(super) fn start(count: usize, paced_per_core: u32) -> std::io::Result<Self> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for number in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("reads {number}"))
                .spawn(move || run(&queue))?;
        }
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Ok(ReadThreads {
            jobs,
            spacing: Duration::from_secs(1) / (paced_per_core * cores as u32),
            next_start: Mutex::new(Instant::now()),
        })
    }

    /// Runs `work` on a read thread, paced when `paced` (an import is running); `None` when
    /// the threads are gone.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        paced: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        if paced {
            let start = {
                let mut next = crate::lock(&self.next_start);
                let start = (*next).max(Instant::now());
                *next = start + self.spacing;
                start
            };
            tokio::time::sleep_until(start).await;
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waits any more when the request went away.
            let _ = answer.send(work());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}

fn run(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = crate::lock(queue).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Lowers the calling thread's priority (best effort: a system that refuses leaves it as is).
fn lower_priority() {
    let lower = ThreadPriorityValue::try_from(PRIORITY)
        .map_err(|error| error.to_string())
        .and_then(|value| {
            set_current_thread_priority(ThreadPriority::Crossplatform(value))
                .map_err(|error| format!("{error:?}"))
        });
    if let Err(error) = lower {
        tracing::debug!("read threads keep their priority: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::{ReadThreads, paced_per_core};

    #[tokio::test]
    async fn paced_reads_start_no_closer_than_their_spacing() {
        let threads = Arc::new(ReadThreads::start(2, paced_per_core(false)).unwrap());
        let started = Instant::now();
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let threads = Arc::clone(&threads);
            reads.spawn(async move { threads.run(true, Instant::now).await.unwrap() });
        }
        let mut starts = reads.join_all().await;
        starts.sort();
        assert!(starts[19] - started >= threads.spacing * 19);
    }

    #[tokio::test]
    async fn work_runs_on_the_read_threads_and_answers() {
        let threads = ReadThreads::start(2, paced_per_core(false)).unwrap();
        let name = threads
            .run(false, || std::thread::current().name().map(String::from))
            .await
            .unwrap();
        assert!(name.is_some_and(|name| name.starts_with("reads ")));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn read_threads_run_below_the_normal_priority() {
        let threads = ReadThreads::start(1, paced_per_core(false)).unwrap();
        let niceness = |stat: String| -> i32 {
            // The fields after the thread's name, which ends with the last ')'.
            let fields = &stat[stat.rfind(')').unwrap() + 1..];
            fields.split_whitespace().nth(16).unwrap().parse().unwrap()
        };
        let own = niceness(std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let reads = threads
            .run(false, || {
                std::fs::read_to_string("/proc/thread-self/stat").unwrap()
            })
            .await
            .unwrap();
        assert!(niceness(reads) > own);
    }
}
