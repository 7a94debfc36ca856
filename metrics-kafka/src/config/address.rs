//! Syntax of broker addresses and hosts, shared by the bootstrap servers and the registry URL.

use std::net::Ipv6Addr;

/// A host name, IPv4 address or bracketed IPv6 address; why not, otherwise.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => Err(format!("{host:?} is not a valid bracketed IPv6 address")),
        };
    }
    if host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if host.contains(':') {
        return Err("IPv6 addresses must be in brackets, e.g. [::1]:9092".to_owned());
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        Some(c) => Err(format!(
            "the host contains {c:?}, which a host name cannot contain"
        )),
        None => Ok(()),
    }
}

/// A port number between 1 and 65535.
pub(crate) fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(n) if n != 0 => Ok(()),
        _ => Err(format!(
            "the port {port:?} is not a number between 1 and 65535"
        )),
    }
}

/// One bootstrap server: `host:port`.
pub(crate) fn check_server(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("it is empty (look for a doubled or trailing comma)".to_owned());
    }
    if entry.contains("://") {
        return Err(
            "remove the scheme: write host:port and choose the protocol with \
             KAFKA_SECURITY_PROTOCOL"
                .to_owned(),
        );
    }
    if entry.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".to_owned());
    }
    if entry.contains(',') {
        return Err(
            "it contains a comma: give each server as its own entry (the environment \
             variable is split at commas, the builder takes a list)"
                .to_owned(),
        );
    }
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Err("the port is missing (e.g. kafka:9092)".to_owned());
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err("IPv6 addresses must be in brackets, e.g. [::1]:9092".to_owned());
    }
    check_host(host)?;
    check_port(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_host_and_port() {
        for ok in [
            "kafka:9092",
            "10.0.0.1:9092",
            "[::1]:9094",
            "kafka-1.example.org:1",
        ] {
            assert_eq!(check_server(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn bad_servers_say_what_is_wrong() {
        for (bad, why) in [
            ("kafka", "port is missing"),
            ("kafka:http", "between 1 and 65535"),
            ("kafka:0", "between 1 and 65535"),
            ("kafka:70000", "between 1 and 65535"),
            ("PLAINTEXT://kafka:9092", "remove the scheme"),
            (":9092", "host is missing"),
            ("::1:9092", "brackets"),
            ("", "empty"),
            ("a:1,b:2", "contains a comma"),
            ("ka fka:1", "whitespace"),
            ("ka/fka:1", "cannot contain"),
            ("[::zz]:1", "IPv6"),
        ] {
            let err = check_server(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
