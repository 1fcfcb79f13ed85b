//! Errors of the direct-USB route, each saying what happened and what to do about it.

// missing_docs: error variants and their fields; each variant's #[error] message says what it is.
#![allow(missing_docs)]

use std::path::Path;

use super::descriptor::DescriptorError;

/// Where usbmuxd listens; if it exists the daemon is running and is the likely holder of the phone.
pub(crate) const USBMUXD_SOCKET: &str = "/var/run/usbmuxd";

/// The udev rule shipped with this program.
const UDEV_RULE: &str = "udev/70-iphone-import.rules";

/// Who most likely holds a phone we could not claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyHolder {
    /// The usbmuxd daemon (its socket exists).
    Usbmuxd,
    /// Something else: typically gvfs' gphoto2 backend or a photo importer grabbing PTP.
    Other,
}

impl BusyHolder {
    /// Guess the holder from whether usbmuxd's socket exists.
    pub(crate) fn guess(usbmuxd_socket_exists: bool) -> BusyHolder {
        if usbmuxd_socket_exists {
            BusyHolder::Usbmuxd
        } else {
            BusyHolder::Other
        }
    }

    /// Guess by looking at this machine.
    pub(crate) fn detect() -> BusyHolder {
        Self::guess(Path::new(USBMUXD_SOCKET).exists())
    }
}

impl std::fmt::Display for BusyHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusyHolder::Usbmuxd => write!(
                f,
                "the usbmuxd daemon is running ({USBMUXD_SOCKET} exists) and holds the phone. \
                 Use `--transport usbmuxd` to go through it, or stop it first \
                 (`sudo systemctl stop usbmuxd`; `sudo systemctl mask usbmuxd` keeps udev from \
                 restarting it on the next plug)"
            ),
            BusyHolder::Other => write!(
                f,
                "another program holds the phone, most likely the desktop's camera import \
                 (gvfs-gphoto2-volume-monitor / gvfsd-gphoto2) or a photo viewer. Close photo \
                 importers and unmount the phone in the file manager, or use \
                 `--transport usbmuxd` if usbmuxd is installed"
            ),
        }
    }
}

/// The libusb step that failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbOp {
    Enumerate,
    Open,
    ReadDescriptors,
    DetachKernelDriver,
    SetConfiguration,
    ClaimInterface,
    Transfer,
}

impl std::fmt::Display for UsbOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UsbOp::Enumerate => "listing USB devices",
            UsbOp::Open => "opening the phone",
            UsbOp::ReadDescriptors => "reading the phone's USB descriptors",
            UsbOp::DetachKernelDriver => "detaching a kernel driver from the phone",
            UsbOp::SetConfiguration => "selecting the phone's USB configuration",
            UsbOp::ClaimInterface => "claiming the phone's usbmux interface",
            UsbOp::Transfer => "starting USB transfers",
        })
    }
}

/// Why the direct-USB route failed.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    #[error(
        "USB is not available on this machine (libusb could not start: {source}). Check that \
         /dev/bus/usb exists (in a container or VM, pass the USB bus through), or use \
         `--transport usbmuxd`"
    )]
    Unavailable { source: rusb::Error },

    #[error("no iPhone found on USB{}. Plug it in with a data cable and unlock it", match .udid {
        Some(udid) => format!(" with UDID {udid}"),
        None => String::new(),
    })]
    NotFound { udid: Option<String> },

    #[error("several iPhones are connected ({}); choose one with --udid", .udids.join(", "))]
    Ambiguous { udids: Vec<String> },

    #[error(
        "permission denied while {op}. Install the udev rule that gives the logged-in user \
         access: `sudo cp {UDEV_RULE} /etc/udev/rules.d/ && sudo udevadm control --reload && \
         sudo udevadm trigger`, then replug the phone (see the installation notes in docs/). \
         Or use `--transport usbmuxd`"
    )]
    PermissionDenied { op: UsbOp },

    #[error("the iPhone is busy while {op}: {holder}")]
    Busy { op: UsbOp, holder: BusyHolder },

    #[error(
        "the iPhone's current USB mode offers no usbmux interface (only e.g. network \
         functions, as in iOS 17's \"NCM Direct\" mode), so its files cannot be reached. Unplug \
         and replug it, or reset its USB mode (usbmuxd does so with USBMUXD_DEFAULT_DEVICE_MODE=1)"
    )]
    NoMuxInterface,

    #[error("the iPhone was unplugged while {op}; plug it back in and try again")]
    Unplugged { op: UsbOp },

    #[error("the iPhone sent malformed USB descriptors: {0}")]
    Descriptor(#[from] DescriptorError),

    #[error("USB error while {op}: {source}. Replug the phone and try again")]
    Usb { op: UsbOp, source: rusb::Error },
}

impl UsbError {
    /// A private libusb context, or why there is none.
    pub fn context() -> Result<rusb::Context, UsbError> {
        rusb::Context::new().map_err(|source| UsbError::Unavailable { source })
    }

    /// Translate a libusb failure, guessing who holds the phone when it is busy.
    pub(crate) fn from_rusb(op: UsbOp, error: rusb::Error) -> UsbError {
        Self::classify(op, error, BusyHolder::detect)
    }

    /// The translation itself, with the busy-holder guess injected (for tests).
    pub(crate) fn classify(
        op: UsbOp,
        error: rusb::Error,
        holder: impl FnOnce() -> BusyHolder,
    ) -> UsbError {
        match error {
            rusb::Error::Access => UsbError::PermissionDenied { op },
            rusb::Error::Busy => UsbError::Busy {
                op,
                holder: holder(),
            },
            rusb::Error::NoDevice => UsbError::Unplugged { op },
            source => UsbError::Usb { op, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_names_usbmuxd_when_its_socket_exists() {
        let e = UsbError::classify(UsbOp::ClaimInterface, rusb::Error::Busy, || {
            BusyHolder::guess(true)
        });
        let text = e.to_string();
        assert!(text.contains("usbmuxd daemon"), "{text}");
        assert!(text.contains("--transport usbmuxd"), "{text}");
        assert!(text.contains("claiming"), "{text}");
    }

    #[test]
    fn busy_without_usbmuxd_points_at_gvfs() {
        let e = UsbError::classify(UsbOp::SetConfiguration, rusb::Error::Busy, || {
            BusyHolder::guess(false)
        });
        let text = e.to_string();
        assert!(text.contains("gphoto2"), "{text}");
        assert!(text.contains("--transport usbmuxd"), "{text}");
        assert!(!text.contains("daemon is running"), "{text}");
    }

    #[test]
    fn access_points_to_the_udev_rule() {
        let e = UsbError::classify(UsbOp::Open, rusb::Error::Access, || unreachable!());
        let text = e.to_string();
        assert!(matches!(e, UsbError::PermissionDenied { op: UsbOp::Open }));
        assert!(text.contains("udev/70-iphone-import.rules"), "{text}");
        assert!(text.contains("docs/"), "{text}");
    }

    #[test]
    fn other_errors_keep_their_cause() {
        assert!(matches!(
            UsbError::classify(UsbOp::Open, rusb::Error::NoDevice, || unreachable!()),
            UsbError::Unplugged { op: UsbOp::Open }
        ));
        let e = UsbError::classify(UsbOp::Transfer, rusb::Error::Pipe, || unreachable!());
        assert!(matches!(
            e,
            UsbError::Usb {
                source: rusb::Error::Pipe,
                ..
            }
        ));
        assert!(
            UsbError::NoMuxInterface
                .to_string()
                .contains("Unplug and replug")
        );
        assert!(
            UsbError::Ambiguous {
                udids: vec!["a".into(), "b".into()]
            }
            .to_string()
            .contains("a, b")
        );
    }
}
