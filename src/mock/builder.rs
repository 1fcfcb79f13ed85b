//! One place that assembles a complete simulated iPhone — identity, lockdownd, the AFC server over
//! a photo library, a speed profile and faults — so that `--demo`, `iphone-mock serve`, the USB
//! gadget and the tests all talk to the same phone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::afcd::{AfcServer, Faults};
use super::library::{self, LibraryOptions};
use super::lockdownd::{Lockdownd, TrustBehaviour};
use super::phone::{PhoneIdentity, SimulatedPhone};
use super::profile::Profile;
use super::session_tls::SessionTls;

/// Where the phone's media (`/var/mobile/Media`) comes from.
#[derive(Debug, Clone)]
pub enum MediaSource {
    /// An existing folder, e.g. one written by `iphone-mock generate-library`.
    Dir(PathBuf),
    /// A library generated now into a temporary folder that lives as long as the phone.
    Generate(LibraryOptions),
}

/// Everything that makes one simulated phone.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub identity: PhoneIdentity,
    pub media: MediaSource,
    pub profile: Profile,
    pub faults: Faults,
    pub trust: TrustBehaviour,
    /// TLS versions offered for the lockdown session, bursts, handshake faults.
    pub session_tls: SessionTls,
    /// Start as if just restarted and not unlocked since: PasswordProtected at Pair,
    /// StartSession and StartService until `Lockdownd::unlock`.
    pub locked_since_boot: bool,
    /// The first StartService finds its session gone (SessionInactive).
    pub session_inactive_once: bool,
    /// At most this many connections to a service at once: StartService answers ServiceLimit
    /// beyond (`None`: any number).
    pub service_limit: Option<usize>,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            identity: PhoneIdentity::default(),
            media: MediaSource::Generate(LibraryOptions::demo()),
            profile: Profile::none(),
            faults: Faults::default(),
            trust: TrustBehaviour::TrustImmediately,
            session_tls: SessionTls::default(),
            locked_since_boot: false,
            session_inactive_once: false,
            service_limit: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create a temporary folder for the simulated library: {0}")]
    TempDir(std::io::Error),
    #[error("cannot generate the simulated library: {0}")]
    Generate(#[from] library::GenerateError),
    #[error("cannot serve the media folder {path}: {source}")]
    Media {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the simulated phone's keys: {0}")]
    Keys(String),
}

/// A running simulated phone's parts, for tests to script and inspect.
pub struct BuiltPhone {
    pub phone: Arc<SimulatedPhone>,
    pub lockdownd: Arc<Lockdownd>,
    pub afc: Arc<AfcServer>,
    pub media_root: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl BuiltPhone {
    pub(crate) fn media_root(&self) -> &Path {
        &self.media_root
    }
}

/// Assemble the phone: lockdownd listens on 62078, and StartService("com.apple.afc") reaches the
/// AFC server over the media folder.
pub(crate) fn build(config: PhoneConfig) -> Result<BuiltPhone, BuildError> {
    let (media_root, temp) = match config.media {
        MediaSource::Dir(dir) => (dir, None),
        MediaSource::Generate(options) => {
            let temp = tempfile::Builder::new()
                .prefix("iphone-mock-media-")
                .tempdir()
                .map_err(BuildError::TempDir)?;
            let root = temp.path().join("Media");
            library::generate(&root, &options)?;
            (root, Some(temp))
        }
    };
    let phone = SimulatedPhone::new(config.identity);
    let lockdownd =
        Lockdownd::new(phone.clone(), config.trust).map_err(|e| BuildError::Keys(e.to_string()))?;
    lockdownd.set_session_tls(config.session_tls);
    lockdownd.set_locked_since_boot(config.locked_since_boot);
    if config.session_inactive_once {
        lockdownd.answer_session_inactive_once();
    }
    lockdownd.install();
    let afc = AfcServer::with_model(
        media_root.clone(),
        config.profile,
        config.faults,
        &phone.identity.product_type,
    )
    .map_err(|source| BuildError::Media {
        path: media_root.clone(),
        source,
    })?;
    phone.add_named_service("com.apple.afc", afc.service_fn());
    phone.limit_services(config.service_limit);
    Ok(BuiltPhone {
        phone,
        lockdownd,
        afc,
        media_root,
        _temp: temp,
    })
}
