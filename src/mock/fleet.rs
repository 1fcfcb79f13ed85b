//! Several simulated phones behind one host (`iphone-mock serve --phones N`). Phone `i` gets its
//! own UDID, name, serial number and library seed, and is built separately, so it has its own
//! AFC server and with it its own speed-profile pacer: one phone's traffic never slows another,
//! as separate USB links would not. They share nothing but the usbmuxd front.

use std::path::{Component, Path, PathBuf};

use super::phone::PhoneIdentity;

/// Most phones one host serves (real hubs run out of power long before).
pub(crate) const MAX_PHONES: usize = 32;

/// Phone `index` (0-based) of a fleet whose first phone is `base`; index 0 is `base` itself, so
/// `--phones 1` is the phone served before `--phones` existed.
pub(crate) fn identity(base: &PhoneIdentity, index: usize) -> PhoneIdentity {
    if index == 0 {
        return base.clone();
    }
    let mut id = base.clone();
    id.udid = numbered_udid(&base.udid, index);
    id.device_name = format!("{} {}", base.device_name, index + 1);
    let keep = base.serial_number.chars().count().saturating_sub(2);
    let stem: String = base.serial_number.chars().take(keep).collect();
    id.serial_number = format!("{stem}{:02}", index % 100);
    id
}

/// The library seed of phone `index`: different phones, different libraries.
pub(crate) fn seed(base: u64, index: usize) -> u64 {
    base.wrapping_add(index as u64)
}

/// `udid` with its last four hex digits counted up by `index` (distinct for up to 65,536 phones);
/// a UDID that does not end in four hex digits gets `-N` appended instead.
fn numbered_udid(udid: &str, index: usize) -> String {
    let split = udid.len().saturating_sub(4);
    let tail = udid.get(split..).unwrap_or("");
    match u16::from_str_radix(tail, 16) {
        Ok(n) if tail.len() == 4 => {
            let bumped = n.wrapping_add(index as u16);
            format!("{}{bumped:04X}", &udid[..split])
        }
        _ => format!("{udid}-{}", index + 1),
    }
}

/// Where phone `udid` keeps its library under `parent`: `parent/<udid>/`.
pub(crate) fn library_dir(parent: &Path, udid: &str) -> Result<PathBuf, String> {
    let mut parts = Path::new(udid).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(parent.join(udid)),
        _ => Err(format!(
            "the UDID {udid:?} cannot name a folder; choose a --udid of letters, digits and dashes"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_of_a_fleet_are_distinct_and_the_first_is_the_base() {
        let base = PhoneIdentity::default();
        assert_eq!(identity(&base, 0).udid, base.udid);
        let udids: std::collections::HashSet<String> =
            (0..MAX_PHONES).map(|i| identity(&base, i).udid).collect();
        assert_eq!(udids.len(), MAX_PHONES);
        let second = identity(&base, 1);
        assert_eq!(second.udid, "00008030-001A2B3C4D5E802F");
        assert_eq!(second.device_name, "Simulated iPhone 2");
        assert_ne!(second.serial_number, base.serial_number);
        assert_eq!(numbered_udid("abc", 2), "abc-3");
        assert_eq!(numbered_udid("0000FFFF", 1), "00000000");
        assert_ne!(seed(7, 1), seed(7, 0));
    }

    #[test]
    fn library_dirs_stay_under_the_parent() {
        let parent = Path::new("/tmp/libs");
        assert_eq!(
            library_dir(parent, "00008030-1").unwrap(),
            parent.join("00008030-1")
        );
        for bad in ["../x", "a/b", "", "..", "/abs"] {
            assert!(library_dir(parent, bad).is_err(), "{bad}");
        }
    }
}
