//! One line for an error and its chain, as every command prints it.

/// The error and its causes, each cause only when the text before does not already say it
/// (our error types mostly embed their source in their own message).
pub(super) fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}
