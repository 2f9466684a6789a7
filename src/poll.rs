//! Polling a service-side job until it finishes, with a growing delay and an overall deadline:
//! the loop behind both services' `wait_for_*job` builders, which differ only in how they fetch
//! the job, when it counts as finished, how fast the delay grows and what the timeout says.

use std::future::Future;
use std::time::Duration;

use crate::Error;

/// How a waiter spaces its polls.
pub(crate) struct Schedule {
    /// The delay after the first poll.
    pub(crate) first: Duration,
    /// The longest delay between polls.
    pub(crate) max: Duration,
    /// The next delay from the current one (before capping at `max`).
    pub(crate) grow: fn(Duration) -> Duration,
    /// How long to wait in total.
    pub(crate) timeout: Duration,
}

/// Calls `poll` until `finished` holds for its result, and returns that result. A failed poll
/// fails the wait. When the deadline has passed after a poll that was not finished, fails
/// with `timed_out(last result)`. Never sleeps past the deadline.
pub(crate) async fn until_finished<J, F, Fut>(
    schedule: Schedule,
    mut poll: F,
    finished: impl Fn(&J) -> bool,
    timed_out: impl FnOnce(&J) -> Error,
) -> Result<J, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<J, Error>>,
{
    let deadline = tokio::time::Instant::now() + schedule.timeout;
    let mut delay = schedule.first;
    loop {
        let job = poll().await?;
        if finished(&job) {
            return Ok(job);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(timed_out(&job));
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (schedule.grow)(delay).min(schedule.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn schedule(timeout: Duration) -> Schedule {
        Schedule {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
            grow: |d| d * 2,
            timeout,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_finished_result() {
        let mut polls = 0;
        let got = until_finished(
            schedule(Duration::from_secs(1)),
            || {
                polls += 1;
                let n = polls;
                async move { Ok::<_, Error>(n) }
            },
            |n| *n == 3,
            |_| unreachable!(),
        )
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_the_last_result_and_stops_on_errors() {
        let start = tokio::time::Instant::now();
        let e = until_finished(
            schedule(Duration::from_millis(10)),
            || async { Ok::<_, Error>("running") },
            |_| false,
            |last| Error::new(ErrorKind::Timeout, format!("still {last}")),
        )
        .await
        .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Timeout));
        assert_eq!(e.to_string(), "still running");
        assert_eq!(start.elapsed(), Duration::from_millis(10));

        let e = until_finished(
            schedule(Duration::from_secs(1)),
            || async { Err::<(), _>(Error::invalid_input("job_id", "bad")) },
            |_| true,
            |_| unreachable!(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }));
    }
}
