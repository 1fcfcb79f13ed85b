//! `iphone-mock generate-library DIR ...`: writes a simulated photo library to disk.

use super::generate;
use super::options::{LibraryOptions, OddFiles, OptimisedShape, TRUTH_FILE};
use super::schema_shape::SchemaShape;
use std::path::PathBuf;

/// Arguments of `iphone-mock generate-library`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Directory to fill (the simulated /var/mobile/Media); created if missing, must be empty.
    pub dir: PathBuf,
    /// Number of photo assets (stills, Live Photos, screenshots).
    #[arg(long, default_value_t = 100)]
    pub photos: usize,
    /// Number of video assets.
    #[arg(long, default_value_t = 10)]
    pub videos: usize,
    /// Seed: the same seed gives a byte-identical library.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Photos 1.5–5 MB and videos 20–200 MB instead of tiny files.
    #[arg(long)]
    pub realistic_sizes: bool,
    /// IMG numbers per DCIM/NNNAPPLE folder (real phones: about 1000).
    #[arg(long, default_value_t = 1000)]
    pub items_per_folder: usize,
    /// Photos.sqlite layout of this iOS version: ios13, ios14, ios15, ios16, ios17, ios17.6,
    /// ios18, ios26.
    #[arg(long, default_value = "ios17", value_name = "SHAPE")]
    pub schema: SchemaShape,
    /// How originals not on the phone show: placeholder (listed, reads fail with EIO) or
    /// removed (not in DCIM; a thumbnail stays under PhotoData/Thumbnails).
    #[arg(long, default_value = "placeholder", value_name = "SHAPE")]
    pub optimised: OptimisedShape,
    /// Odd files real phones hold, comma-separated (or `all`): heic-jpeg, mov-wide-first,
    /// imprt, img-wrap, full-size-render, cpl-assets (see docs/testing.md).
    #[arg(long, value_name = "LIST", default_value = "")]
    pub odd_files: OddFiles,
}

/// Runs the subcommand: generates the library and prints a one-line summary.
pub(crate) fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let opts = LibraryOptions {
        photos: args.photos,
        videos: args.videos,
        seed: args.seed,
        realistic_sizes: args.realistic_sizes,
        items_per_folder: args.items_per_folder,
        schema: args.schema,
        optimised: args.optimised,
        odd: args.odd_files,
    };
    let truth = generate(&args.dir, &opts)?;
    let c = &truth.counts;
    println!(
        "generated {} assets ({} photos incl. {} Live, {} screenshots; {} videos) in {}: \
         {} hidden, {} recently deleted, {} iCloud-only, {} missing originals, {} edited, \
         {} only in the WAL; \
         Photos.sqlite shaped like {} ({}); truth in {}",
        c.assets,
        c.photos,
        c.live_photos,
        c.screenshots,
        c.videos,
        args.dir.display(),
        c.hidden,
        c.trashed,
        c.icloud_only,
        c.original_missing,
        c.edited,
        c.in_wal_only,
        truth.schema,
        truth.join_table,
        args.dir.join(TRUTH_FILE).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: GenerateArgs,
    }

    #[test]
    fn parses_flags_and_generates() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("media");
        let w = Wrapper::try_parse_from([
            "iphone-mock".as_ref(),
            lib.as_os_str(),
            "--photos".as_ref(),
            "9".as_ref(),
            "--videos".as_ref(),
            "2".as_ref(),
            "--seed".as_ref(),
            "5".as_ref(),
            "--items-per-folder".as_ref(),
            "4".as_ref(),
        ])
        .unwrap();
        assert!(!w.args.realistic_sizes);
        assert_eq!(w.args.schema, SchemaShape::Ios17);
        run(&w.args).unwrap();
        let truth = crate::mock::library::read_truth(&lib).unwrap();
        assert_eq!(
            (truth.counts.photos, truth.counts.videos, truth.seed),
            (9, 2, 5)
        );
        assert!(lib.join("DCIM/102APPLE").is_dir());
        assert!(!lib.join("DCIM/103APPLE").exists());
    }

    #[test]
    fn schema_flag_picks_the_shape_and_rejects_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("media");
        let parse = |schema: &str| {
            Wrapper::try_parse_from([
                "iphone-mock".as_ref(),
                lib.as_os_str(),
                "--photos".as_ref(),
                "3".as_ref(),
                "--videos".as_ref(),
                "1".as_ref(),
                "--schema".as_ref(),
                schema.as_ref(),
            ])
        };
        let w = parse("ios13").unwrap();
        assert_eq!(w.args.schema, SchemaShape::Ios13);
        run(&w.args).unwrap();
        let truth = crate::mock::library::read_truth(&lib).unwrap();
        assert_eq!(
            (truth.asset_table.as_str(), truth.join_table.as_str()),
            ("ZGENERICASSET", "Z_26ASSETS")
        );
        assert_eq!(parse("ios17.6").unwrap().args.schema, SchemaShape::Ios17_6);
        let err = parse("ios12").err().unwrap().to_string();
        assert!(err.contains("ios26"), "{err}");
    }
}
