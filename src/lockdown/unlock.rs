//! Waiting for a phone that has not been unlocked since it restarted. Until its first unlock the
//! photo database is protected, and lockdownd answers Pair, StartSession and StartService with
//! PasswordProtected (Pair also while the screen is merely locked: the Trust alert needs an
//! unlocked phone). Like the Trust alert, this is a person's move: tell them, poll with backoff,
//! and give up after the same timeout.

use std::future::Future;
use std::time::{Duration, Instant};

use plist::Dictionary;

use super::client::{LockdownClient, PairingOptions, PairingProgress, ServiceEndpoint, map_common};
use super::error::LockdownError;
use super::records::PairRecord;

/// What to tell the user while the phone waits for its first unlock.
pub const UNLOCK_PROMPT: &str = "Unlock your iPhone (it has not been unlocked since it restarted)";

/// The longest pause between two polls; the first is `PairingOptions::poll_interval`.
const MAX_UNLOCK_POLL: Duration = Duration::from_secs(5);

/// The requests a phone locked since its restart refuses.
#[derive(Clone, Copy)]
enum Request<'a> {
    Pair(&'a Dictionary),
    StartSession(&'a PairRecord),
    StartService(&'a str),
}

enum Answer {
    Paired(Dictionary),
    Session,
    Service(ServiceEndpoint),
}

impl Request<'_> {
    async fn send(self, client: &mut LockdownClient) -> Result<Answer, LockdownError> {
        match self {
            Request::Pair(message) => client
                .request(message.clone())
                .await
                .map_err(map_common)
                .map(Answer::Paired),
            Request::StartSession(record) => {
                client.start_session(record).await.map(|()| Answer::Session)
            }
            Request::StartService(name) => {
                client.start_service(name, None).await.map(Answer::Service)
            }
        }
    }

    /// The error once the phone stayed locked for the whole wait.
    fn still_locked(self, waited: Duration) -> LockdownError {
        match self {
            // A phone asked to pair may be locked with or without a restart.
            Request::Pair(_) => LockdownError::LockedAtPairing(waited),
            _ => LockdownError::LockedSinceRestart(waited),
        }
    }
}

/// Send the Pair `message` until the phone no longer answers PasswordProtected; returns its
/// reply, or its refusal as it is (e.g. PairingDialogResponsePending while Trust is up).
pub(super) async fn pair_when_unlocked<P, C>(
    client: &mut LockdownClient,
    message: &Dictionary,
    options: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<Dictionary, LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let request = Request::Pair(message);
    match retry_while_locked(client, request, options, on_progress, cancel).await? {
        Answer::Paired(reply) => Ok(reply),
        _ => unreachable!("Pair answers with a dictionary"),
    }
}

/// StartSession with `record`, waiting for the first unlock after a restart.
pub(crate) async fn start_session_when_unlocked<P, C>(
    client: &mut LockdownClient,
    record: &PairRecord,
    options: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<(), LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let request = Request::StartSession(record);
    retry_while_locked(client, request, options, on_progress, cancel)
        .await
        .map(|_| ())
}

/// StartService (inside the session), waiting for the first unlock after a restart.
pub async fn start_service_when_unlocked<P, C>(
    client: &mut LockdownClient,
    service: &str,
    options: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<ServiceEndpoint, LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let request = Request::StartService(service);
    match retry_while_locked(client, request, options, on_progress, cancel).await? {
        Answer::Service(endpoint) => Ok(endpoint),
        _ => unreachable!("StartService answers with an endpoint"),
    }
}

/// Send `request` again while the phone answers PasswordProtected, reporting
/// `WaitingForUnlock`, backing off from `options.poll_interval` to 5 s, for at most
/// `options.timeout`. Any other outcome is returned as it is.
async fn retry_while_locked<P, C>(
    client: &mut LockdownClient,
    request: Request<'_>,
    options: &PairingOptions,
    mut on_progress: P,
    cancel: C,
) -> Result<Answer, LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + options.timeout;
    let poll = async {
        let mut delay = options.poll_interval;
        let mut polls = 0u32;
        loop {
            match request.send(client).await {
                Err(LockdownError::PasswordProtected) => {
                    polls += 1;
                    on_progress(PairingProgress::WaitingForUnlock { polls });
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(request.still_locked(options.timeout));
                    }
                    // The last poll lands on the deadline rather than a backoff step past it.
                    tokio::time::sleep(delay.min(deadline - now)).await;
                    delay = (delay * 2).min(MAX_UNLOCK_POLL);
                }
                other => return other,
            }
        }
    };
    // No outer deadline: cutting a request short would leave the lockdown socket mid-reply.
    tokio::select! {
        r = poll => r,
        _ = cancel => Err(LockdownError::PairingCancelled),
    }
}
