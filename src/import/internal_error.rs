//! What went wrong inside iphone-import itself, as opposed to the phone or the disk: a worker that
//! panicked, a lock a panicking thread poisoned, a helper thread that stopped. Typed, so a join
//! error's panic message reaches the user instead of being flattened into a string, and so tests
//! can tell these apart from the phone's and the disk's failures.

use std::sync::PoisonError;

/// A failure of the program rather than of the phone or the disk. None of these is expected; each
/// says so, keeps what was already copied, and points at a rerun.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error(
        "a worker stopped with a bug ({message}); files already copied are kept: run again, and report this if it repeats"
    )]
    TaskPanicked { message: String },
    #[error("a worker was cancelled before it finished; files already copied are kept: run again")]
    TaskCancelled,
    #[error(
        "a worker stopped with a bug while holding shared state; files already copied are kept: run again, and report this if it repeats"
    )]
    LockPoisoned,
    #[error(
        "the file-hashing threads stopped unexpectedly; nothing was changed: run again, and report this if it repeats"
    )]
    HashersStopped,
    #[error("a copy was started without a destination folder (a bug): run again, and report this")]
    NoDestination,
    #[error(
        "the plan met an asset it had planned already (a bug); files already copied are kept: run again, and report this if it repeats"
    )]
    PlannedTwice,
}

impl From<tokio::task::JoinError> for InternalError {
    fn from(e: tokio::task::JoinError) -> InternalError {
        match e.try_into_panic() {
            Ok(payload) => InternalError::TaskPanicked {
                message: panic_message(payload.as_ref()),
            },
            Err(_) => InternalError::TaskCancelled,
        }
    }
}

impl<T> From<PoisonError<T>> for InternalError {
    fn from(_: PoisonError<T>) -> InternalError {
        InternalError::LockPoisoned
    }
}

/// The text a panic carried (`panic!("...")` gives a `&str` or a `String`), bounded: it is ours,
/// but it may quote a device path.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    };
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_panicking_task_keeps_its_message() {
        let joined = tokio::spawn(async { panic!("boom at IMG_0001.HEIC") }).await;
        let e = InternalError::from(joined.unwrap_err());
        match &e {
            InternalError::TaskPanicked { message } => assert_eq!(message, "boom at IMG_0001.HEIC"),
            other => panic!("expected TaskPanicked, got {other:?}"),
        }
        assert!(e.to_string().contains("boom at IMG_0001.HEIC"), "{e}");
    }

    #[tokio::test]
    async fn a_formatted_panic_message_is_kept_too() {
        let n = 7;
        let joined = tokio::task::spawn_blocking(move || panic!("row {n} broke")).await;
        match InternalError::from(joined.unwrap_err()) {
            InternalError::TaskPanicked { message } => assert_eq!(message, "row 7 broke"),
            other => panic!("expected TaskPanicked, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_aborted_task_is_cancelled_not_panicked() {
        let handle = tokio::spawn(std::future::pending::<()>());
        handle.abort();
        let e = InternalError::from(handle.await.unwrap_err());
        assert!(matches!(e, InternalError::TaskCancelled), "{e:?}");
    }

    #[test]
    fn a_poisoned_lock_is_lock_poisoned() {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _guard = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        let e = InternalError::from(m.lock().unwrap_err());
        assert!(matches!(e, InternalError::LockPoisoned), "{e:?}");
    }
}
