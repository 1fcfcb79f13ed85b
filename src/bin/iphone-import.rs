fn main() -> std::process::ExitCode {
    iphone_import::cli::main()
}
