use super::*;

/// A binary plist from raw object encodings (2-byte refs, 4-byte offsets), root = object 0.
fn bplist(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for object in objects {
        offsets.push(out.len() as u32);
        out.extend_from_slice(object);
    }
    let table = out.len() as u64;
    for offset in offsets {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(&[0; 6]);
    out.push(4); // offset size
    out.push(2); // ref size
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

/// An array object referring to `refs` (count < 15 or extended length).
fn array(refs: &[u16]) -> Vec<u8> {
    let mut o = if refs.len() < 15 {
        vec![0xa0 | refs.len() as u8]
    } else {
        let mut o = vec![0xaf, 0x11];
        o.extend_from_slice(&(refs.len() as u16).to_be_bytes());
        o
    };
    for r in refs {
        o.extend_from_slice(&r.to_be_bytes());
    }
    o
}

/// Run `f` on a thread with a small stack: a recursion chosen by the input would crash it.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the decoder must not crash")
}

#[test]
fn ordinary_xml_and_binary_dictionaries_decode() {
    let mut d = Dictionary::new();
    d.insert("DeviceName".into(), "Phone".into());
    d.insert(
        "Sizes".into(),
        vec![Value::from(1u64), Value::from(2u64)].into(),
    );
    d.insert("Blob".into(), Value::Data(vec![0, 1, 2]));
    let value = Value::Dictionary(d.clone());
    let mut xml = Vec::new();
    value.to_writer_xml(&mut xml).unwrap();
    let mut bin = Vec::new();
    value.to_writer_binary(&mut bin).unwrap();
    assert_eq!(decode_dict(&xml, &Limits::MESSAGE).unwrap(), d);
    assert_eq!(decode_dict(&bin, &Limits::MESSAGE).unwrap(), d);
}

#[test]
fn xml_nested_20000_deep_is_refused_without_crashing() {
    let depth = 20_000;
    let mut xml = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
    xml.push_str(&"<array>".repeat(depth));
    xml.push_str(&"</array>".repeat(depth));
    xml.push_str("</plist>");
    let result = small_stack(move || decode(xml.as_bytes(), &Limits::MESSAGE));
    assert_eq!(result, Err(PlistError::TooDeep { max: 32 }));
}

#[test]
fn binary_nested_20000_deep_is_refused_without_crashing() {
    let depth = 20_000u16;
    let mut objects: Vec<Vec<u8>> = (0..depth - 1).map(|i| array(&[i + 1])).collect();
    objects.push(array(&[]));
    let bytes = bplist(&objects);
    assert!(bytes.len() < Limits::MESSAGE.max_input);
    let result = small_stack(move || decode(&bytes, &Limits::MESSAGE));
    assert_eq!(result, Err(PlistError::TooDeep { max: 32 }));
}

#[test]
fn shared_objects_expanding_exponentially_are_refused() {
    // Object i is [i+1, i+1]: 30 levels describe 2^30 leaves in about 200 bytes.
    let mut objects: Vec<Vec<u8>> = (0..30u16).map(|i| array(&[i + 1, i + 1])).collect();
    objects.push(vec![0x09]); // true
    let bytes = bplist(&objects);
    assert!(bytes.len() < 400);
    assert_eq!(
        decode(&bytes, &Limits::MESSAGE),
        Err(PlistError::TooManyObjects { max: 100_000 })
    );
}

#[test]
fn a_shared_blob_referenced_many_times_is_refused() {
    // One 64 KiB data object referenced 1000 times: 64 MB decoded from 66 KB.
    let mut blob = vec![0x4f, 0x12];
    blob.extend_from_slice(&(64u32 << 10).to_be_bytes());
    blob.resize(blob.len() + (64 << 10), 7);
    let bytes = bplist(&[array(&[1; 1000]), blob]);
    assert_eq!(
        decode(&bytes, &Limits::MESSAGE),
        Err(PlistError::TooMuchData { max: 4 << 20 })
    );
}

#[test]
fn errors_are_words_not_internal_type_names() {
    let e = decode(&bplist(&[array(&[0])]), &Limits::MESSAGE).unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a valid plist: recursive object at offset 8"
    );
    let e = decode(b"<plist><integer>x</integer></plist>", &Limits::MESSAGE).unwrap_err();
    assert!(!e.to_string().contains(['{', '_']), "{e}");
    assert!(e.to_string().contains("invalid integer string"), "{e}");
}

#[test]
fn reference_cycles_are_refused() {
    let self_loop = bplist(&[array(&[0])]);
    let two_loop = bplist(&[array(&[1]), array(&[0])]);
    for bytes in [self_loop, two_loop] {
        assert!(matches!(
            decode(&bytes, &Limits::MESSAGE),
            Err(PlistError::Malformed(_))
        ));
    }
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let limits = Limits {
        max_input: 10,
        ..Limits::MESSAGE
    };
    assert_eq!(
        decode(b"<plist><dict></dict></plist>", &limits),
        Err(PlistError::TooLarge { len: 28, max: 10 })
    );
}

#[test]
fn garbage_truncation_and_bad_keys_are_typed_errors() {
    let truncated = b"<plist><dict><key>a</key>";
    assert!(matches!(
        decode(truncated, &Limits::MESSAGE),
        Err(PlistError::Malformed(_))
    ));
    // A binary dictionary whose key is an integer.
    let dict = vec![0xd1, 0, 1, 0, 1];
    let bytes = bplist(&[dict, vec![0x10, 5]]);
    assert!(matches!(
        decode(&bytes, &Limits::MESSAGE),
        Err(PlistError::Malformed(_))
    ));
    assert_eq!(
        decode_dict(b"<plist><array/></plist>", &Limits::MESSAGE),
        Err(PlistError::NotADictionary)
    );
    let mut x: u64 = 0x243f_6a88_85a3_08d3;
    for _ in 0..500 {
        let mut bytes = b"bplist00".to_vec();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let _ = decode(&bytes, &Limits::MESSAGE);
    }
}
