//! HEIC decoding for `pull --also-jpeg`, through the system's libheif loaded at run time.
//!
//! Decision: `dlopen("libheif.so.1")` (libloading) rather than a build-time binding. The
//! default build stays cargo-only, a machine without libheif still imports its originals (it
//! only makes no JPEG copies and says so), and the Debian package merely *recommends*
//! `libheif1`. HEVC decoding is not something to write by hand, and libheif is what desktop
//! viewers on Linux use for HEIC already.
//!
//! Only the few C functions needed are declared, with the signatures of libheif's public
//! `heif.h` (stable since 1.x; `struct heif_error` is returned by value). Decoding asks for
//! interleaved 8-bit RGB; libheif applies the HEIF transforms (`irot`, `imir`, `clap`) by
//! default, so the pixels come out as the image is meant to be shown.
//!
//! The library path can be overridden with [`LIBHEIF_ENV`] (tests use a path that does not
//! exist to check what a machine without libheif gets).

use std::ffi::{CStr, CString, OsString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use libloading::Library;

/// Overrides the library `dlopen` is given (a soname or a path).
pub(crate) const LIBHEIF_ENV: &str = "IPHONE_IMPORT_LIBHEIF";
/// libheif's soname (the ABI that `heif.h` 1.x describes).
pub(crate) const LIBHEIF_SONAME: &str = "libheif.so.1";
/// Largest image decoded (pixels). A 48 MP iPhone photo is 8064 × 6048 ≈ 49 M; beyond this a
/// file is refused rather than costing gigabytes of RGB.
pub(crate) const MAX_PIXELS: u64 = 120_000_000;
/// A baseline JPEG's largest side.
pub(crate) const MAX_SIDE: u32 = 65_535;

/// `heif_colorspace_RGB`, `heif_chroma_interleaved_RGB`, `heif_channel_interleaved` of heif.h.
const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;

/// `struct heif_error` (heif.h): code 0 is success; `message` is owned by libheif.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

/// Opaque libheif objects.
type Ctx = c_void;
type Handle = c_void;
type Image = c_void;

#[derive(Debug, thiserror::Error)]
pub(crate) enum HeifError {
    #[error(
        "HEIC → JPEG needs libheif (Debian/Ubuntu: apt install libheif1); the originals are imported, no JPEG copies made ({name}: {reason})"
    )]
    Unavailable { name: String, reason: String },
    #[error("libheif cannot decode it: {0}")]
    Decode(String),
    #[error(
        "it is {width} × {height} pixels, too large for a JPEG copy (limit {MAX_PIXELS} pixels, {MAX_SIDE} a side)"
    )]
    TooLarge { width: u32, height: u32 },
}

/// A decoded image: `width * height` pixels of 8-bit R, G, B, row after row.
pub(crate) struct Rgb {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// libheif, loaded, with the functions used here.
pub(crate) struct Libheif {
    context_alloc: unsafe extern "C" fn() -> *mut Ctx,
    context_free: unsafe extern "C" fn(*mut Ctx),
    read_from_file: unsafe extern "C" fn(*mut Ctx, *const c_char, *const c_void) -> RawError,
    primary_handle: unsafe extern "C" fn(*mut Ctx, *mut *mut Handle) -> RawError,
    handle_release: unsafe extern "C" fn(*const Handle),
    handle_width: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_height: unsafe extern "C" fn(*const Handle) -> c_int,
    decode_image: unsafe extern "C" fn(
        *const Handle,
        *mut *mut Image,
        c_int,
        c_int,
        *const c_void,
    ) -> RawError,
    image_width: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    image_height: unsafe extern "C" fn(*const Image, c_int) -> c_int,
    plane_readonly: unsafe extern "C" fn(*const Image, c_int, *mut c_int) -> *const u8,
    image_release: unsafe extern "C" fn(*const Image),
    /// Keeps the code the function pointers point into mapped; declared last, dropped last.
    _lib: Library,
}

impl Libheif {
    /// Loads `$IPHONE_IMPORT_LIBHEIF`, else [`LIBHEIF_SONAME`].
    pub(crate) fn load() -> Result<Libheif, HeifError> {
        let name = std::env::var_os(LIBHEIF_ENV)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| OsString::from(LIBHEIF_SONAME));
        Libheif::load_from(&name)
    }

    /// Loads libheif from `name` (a soname or a path) and looks up its functions.
    pub(crate) fn load_from(name: &std::ffi::OsStr) -> Result<Libheif, HeifError> {
        let unavailable = |reason: String| HeifError::Unavailable {
            name: name.to_string_lossy().into_owned(),
            reason,
        };
        // SAFETY: loading runs the library's initialisers; libheif's only set up its codec
        // registry. Nothing else of ours runs inside the library at load time.
        let lib = unsafe { Library::new(name) }.map_err(|e| unavailable(e.to_string()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type given is the function's signature in libheif's heif.h.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| unavailable(e.to_string()))?
            };
        }
        // heif_init is refcounted and optional before 1.13; call it where it exists.
        // SAFETY: the type is heif_init's signature in heif.h.
        if let Ok(init) =
            unsafe { lib.get::<unsafe extern "C" fn(*const c_void) -> RawError>(b"heif_init\0") }
        {
            // SAFETY: a null `heif_init_params` asks for the defaults.
            let e = unsafe { init(ptr::null()) };
            if e.code != 0 {
                return Err(unavailable(format!("heif_init: {}", message(e))));
            }
        }
        Ok(Libheif {
            context_alloc: sym!("heif_context_alloc"),
            context_free: sym!("heif_context_free"),
            read_from_file: sym!("heif_context_read_from_file"),
            primary_handle: sym!("heif_context_get_primary_image_handle"),
            handle_release: sym!("heif_image_handle_release"),
            handle_width: sym!("heif_image_handle_get_width"),
            handle_height: sym!("heif_image_handle_get_height"),
            decode_image: sym!("heif_decode_image"),
            image_width: sym!("heif_image_get_width"),
            image_height: sym!("heif_image_get_height"),
            plane_readonly: sym!("heif_image_get_plane_readonly"),
            image_release: sym!("heif_image_release"),
            _lib: lib,
        })
    }

    /// Decodes the primary image of the HEIF file at `path` to RGB, transforms applied.
    pub(crate) fn decode_file(&self, path: &Path) -> Result<Rgb, HeifError> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| HeifError::Decode("the path holds a NUL byte".into()))?;
        // SAFETY: heif_context_alloc takes nothing; null means out of memory.
        let ctx = unsafe { (self.context_alloc)() };
        if ctx.is_null() {
            return Err(HeifError::Decode("heif_context_alloc failed".into()));
        }
        let result = self.decode_in(ctx, &c_path);
        // SAFETY: ctx came from heif_context_alloc and is freed once, after every use.
        unsafe { (self.context_free)(ctx) };
        result
    }

    fn decode_in(&self, ctx: *mut Ctx, c_path: &CStr) -> Result<Rgb, HeifError> {
        // SAFETY: ctx is live; the path is NUL-terminated; null options = defaults.
        check(unsafe { (self.read_from_file)(ctx, c_path.as_ptr(), ptr::null()) })?;
        let mut handle = ptr::null_mut();
        // SAFETY: ctx holds a read file; handle is an out-pointer.
        check(unsafe { (self.primary_handle)(ctx, &mut handle) })?;
        if handle.is_null() {
            return Err(HeifError::Decode("no primary image".into()));
        }
        let result = self.decode_handle(handle);
        // SAFETY: handle came from the context above, released once.
        unsafe { (self.handle_release)(handle) };
        result
    }

    fn decode_handle(&self, handle: *mut Handle) -> Result<Rgb, HeifError> {
        // SAFETY: handle is live.
        let (w, h) = unsafe { ((self.handle_width)(handle), (self.handle_height)(handle)) };
        // Checked before decoding: the RGB buffer is what would cost the memory.
        dimensions(w, h)?;
        let mut image = ptr::null_mut();
        // SAFETY: handle is live; image is an out-pointer; null options = defaults (which
        // include applying the transformations).
        check(unsafe {
            (self.decode_image)(
                handle,
                &mut image,
                COLORSPACE_RGB,
                CHROMA_INTERLEAVED_RGB,
                ptr::null(),
            )
        })?;
        if image.is_null() {
            return Err(HeifError::Decode("no decoded image".into()));
        }
        let result = self.copy_pixels(image);
        // SAFETY: image came from heif_decode_image, released once.
        unsafe { (self.image_release)(image) };
        result
    }

    fn copy_pixels(&self, image: *mut Image) -> Result<Rgb, HeifError> {
        // SAFETY: image is live.
        let (w, h) = unsafe {
            (
                (self.image_width)(image, CHANNEL_INTERLEAVED),
                (self.image_height)(image, CHANNEL_INTERLEAVED),
            )
        };
        let (width, height) = dimensions(w, h)?;
        let mut stride: c_int = 0;
        // SAFETY: image is live; stride is an out-pointer.
        let plane = unsafe { (self.plane_readonly)(image, CHANNEL_INTERLEAVED, &mut stride) };
        let row = width as usize * 3;
        let stride = usize::try_from(stride).unwrap_or(0);
        if plane.is_null() || stride < row {
            return Err(HeifError::Decode("no interleaved RGB plane".into()));
        }
        let mut pixels = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            // SAFETY: libheif's plane holds `height` rows of `stride` bytes, each with at
            // least `width * 3` bytes of RGB; it lives until the image is released.
            pixels.extend_from_slice(unsafe {
                std::slice::from_raw_parts(plane.add(y * stride), row)
            });
        }
        Ok(Rgb {
            width,
            height,
            pixels,
        })
    }
}

/// Positive sides within the JPEG and memory limits.
fn dimensions(w: c_int, h: c_int) -> Result<(u32, u32), HeifError> {
    let (width, height) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
    if width == 0 || height == 0 {
        return Err(HeifError::Decode(format!("image size {w} × {h}")));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(HeifError::TooLarge { width, height });
    }
    Ok((width, height))
}

fn check(e: RawError) -> Result<(), HeifError> {
    if e.code == 0 {
        Ok(())
    } else {
        Err(HeifError::Decode(message(e)))
    }
}

/// The text of a libheif error, copied out (it points into libheif's memory).
fn message(e: RawError) -> String {
    // SAFETY: a heif_error's message is null or a NUL-terminated string valid at least until
    // the next call on its context; it is copied at once.
    let m = unsafe { text(e.message) };
    format!("{m} (libheif error {}.{})", e.code, e.subcode)
}

/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the caller's promise.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_unavailable_with_the_install_advice() {
        let err = Libheif::load_from(std::ffi::OsStr::new("/nonexistent/libheif.so.1"))
            .err()
            .expect("cannot load");
        let text = err.to_string();
        assert!(matches!(err, HeifError::Unavailable { .. }), "{text}");
        assert!(text.contains("apt install libheif1"), "{text}");
        assert!(text.contains("/nonexistent/libheif.so.1"), "{text}");
    }

    #[test]
    fn sizes_beyond_the_limits_are_refused_before_decoding() {
        assert!(dimensions(8064, 6048).is_ok());
        assert!(matches!(dimensions(0, 10), Err(HeifError::Decode(_))));
        assert!(matches!(dimensions(-5, 10), Err(HeifError::Decode(_))));
        assert!(matches!(
            dimensions(70_000, 1),
            Err(HeifError::TooLarge { .. })
        ));
        assert!(matches!(
            dimensions(20_000, 20_000),
            Err(HeifError::TooLarge { .. })
        ));
    }
}
