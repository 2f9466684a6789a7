//! Azure Storage blob and container URLs handed to the services' import/export jobs, and (with
//! the `bulk-import` feature) the blob I/O of the ADT bulk import helper.
//!
//! A SAS URL is a bearer credential: its `sig` query parameter grants access to the container
//! or blob. The facade keeps them in [`Secret`] and no check below echoes a URL in an error.
//!
//! Blob I/O goes through the Azure SDK for Rust's `azure_storage_blob` (1.x, on the same
//! `azure_core` 1.x as the `azure-identity` feature) with its default features off, driven by
//! this crate's own `reqwest` client (rustls, the client options' root certificates) as the
//! transport: the SDK builds Put Block, Put Block List and Get Blob from the SAS URL, keeping its
//! query, so nothing of the Blob REST protocol is written by hand here.

use crate::Error;
use crate::auth::Secret;

/// Checks a storage SAS URL given for `field` and returns it parsed: an absolute `https` URL
/// (plain `http` only to a loopback host such as Azurite) with a host and no fragment. The
/// reasons never contain the URL (its `sig` is a credential).
#[cfg_attr(not(feature = "iothub"), allow(dead_code))]
pub(crate) fn check_storage_url(field: &'static str, url: &Secret) -> Result<reqwest::Url, Error> {
    let text = url.expose_secret();
    if text.trim().is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    let Ok(parsed) = reqwest::Url::parse(text) else {
        return Err(Error::invalid_input(
            field,
            "is not an absolute URL (expected https://<account>.blob.core.windows.net/<container>[/<blob>]?<sas>)",
        ));
    };
    let Some(host) = parsed.host_str() else {
        return Err(Error::invalid_input(field, "has no host"));
    };
    match parsed.scheme() {
        "https" => {}
        "http" if crate::auth::is_loopback_host(host) => {}
        "http" => {
            return Err(Error::invalid_input(
                field,
                "uses plain http to a host that is not loopback; a SAS URL must use https \
                 (http is allowed only for a local emulator such as Azurite)",
            ));
        }
        _ => {
            return Err(Error::invalid_input(
                field,
                "must be an https URL (http only for a loopback host)",
            ));
        }
    }
    if parsed.fragment().is_some() {
        return Err(Error::invalid_input(field, "must not have a #fragment"));
    }
    if parsed.path().trim_matches('/').is_empty() {
        return Err(Error::invalid_input(
            field,
            "names no container (the path is empty)",
        ));
    }
    Ok(parsed)
}

/// Checks a blob name given for `field`: 1–1024 characters, no control characters, not ending
/// with `.` or `/` (Azure Storage's naming rules).
#[allow(dead_code)]
pub(crate) fn check_blob_name(field: &'static str, name: &str) -> Result<(), Error> {
    let n = name.chars().count();
    if n == 0 {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    if n > 1024 {
        return Err(Error::invalid_input(
            field,
            format!("is {n} characters long; a blob name has at most 1024"),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::invalid_input(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
    if name.ends_with('.') || name.ends_with('/') {
        return Err(Error::invalid_input(field, "must not end with '.' or '/'"));
    }
    Ok(())
}

// Used by the bulk import, which needs the generated client's import jobs.
#[cfg(feature = "bulk-import")]
#[cfg_attr(not(adt_import_jobs), allow(unused_imports))]
pub(crate) use blob::{BlobWriter, read_blob_lines};

#[cfg(feature = "bulk-import")]
#[cfg_attr(not(adt_import_jobs), allow(dead_code))]
mod blob {
    use std::sync::Arc;

    use azure_core::http::{ClientOptions, RequestContent, Transport};
    use azure_storage_blob::models::BlockLookupList;
    use azure_storage_blob::{BlobClient, BlobClientOptions, BlockBlobClient};
    use futures::StreamExt;

    use crate::{Error, ErrorKind};

    /// The Blob service version sent (`x-ms-version`): one Azure Storage and Azurite 3.3x both
    /// serve. Put Block, Put Block List and Get Blob are unchanged since 2019.
    const STORAGE_VERSION: &str = "2025-01-05";

    fn blob_client(http: &reqwest::Client, url: &reqwest::Url) -> Result<BlobClient, Error> {
        let client_options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            ..ClientOptions::default()
        };
        let options = BlobClientOptions {
            client_options,
            version: STORAGE_VERSION.to_owned(),
        };
        // The URL was checked by `check_storage_url` (absolute, with a host: always a base), so
        // the SDK's "not a valid base URL" error, which would print the URL, cannot happen.
        BlobClient::new(url.clone(), None, Some(options))
            .map_err(|e| storage_error("creating the blob client", &e))
    }

    /// An `azure_core` error as this crate's, without the SDK's message or source: both may
    /// hold the request URL and with it the SAS signature.
    fn storage_error(during: &str, e: &azure_core::Error) -> Error {
        use azure_core::error::ErrorKind as K;
        match e.kind() {
            K::HttpResponse {
                status, error_code, ..
            } => {
                let code = u16::from(*status);
                let status = reqwest::StatusCode::from_u16(code)
                    .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
                let message = format!(
                    "blob storage answered {code}{} while {during}",
                    error_code
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
                Error::new(
                    ErrorKind::HttpResponse {
                        status,
                        error_code: error_code.clone(),
                    },
                    message,
                )
            }
            K::Io | K::Connection => Error::new(
                ErrorKind::Connection,
                format!("blob storage could not be reached while {during}"),
            ),
            K::DataConversion => Error::new(
                ErrorKind::DataConversion,
                format!("a blob storage answer could not be decoded while {during}"),
            ),
            other => Error::new(
                ErrorKind::Other,
                format!("blob storage failed while {during} ({other:?})"),
            ),
        }
    }

    /// Writes one block blob from a sequence of writes, holding at most one block in memory:
    /// every full block is staged (Put Block) as it fills, and [`finish`](Self::finish)
    /// commits them in order (Put Block List). Memory is one block plus 8 bytes per block id.
    pub(crate) struct BlobWriter {
        client: BlockBlobClient,
        block_size: usize,
        buf: Vec<u8>,
        blocks: Vec<Vec<u8>>,
        bytes: u64,
    }

    impl BlobWriter {
        /// A writer to the blob at `url` (a blob SAS URL) staging blocks of `block_size` bytes.
        pub(crate) fn new(
            http: &reqwest::Client,
            url: &reqwest::Url,
            block_size: usize,
        ) -> Result<BlobWriter, Error> {
            Ok(BlobWriter {
                client: blob_client(http, url)?.block_blob_client(),
                block_size: block_size.max(1),
                buf: Vec::with_capacity(block_size.max(1)),
                blocks: Vec::new(),
                bytes: 0,
            })
        }

        /// Appends `data`; stages a block whenever the buffer is full.
        pub(crate) async fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
            while !data.is_empty() {
                let room = self.block_size - self.buf.len();
                let take = room.min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.buf.len() == self.block_size {
                    self.stage().await?;
                }
            }
            Ok(())
        }

        async fn stage(&mut self) -> Result<(), Error> {
            if self.buf.is_empty() {
                return Ok(());
            }
            // Block ids must all have the same length: 8 bytes, the block's index.
            let id = (self.blocks.len() as u64).to_be_bytes().to_vec();
            // The next buffer is allocated only once this block is sent and dropped, so at most
            // one block is held at a time.
            let body = std::mem::take(&mut self.buf);
            let len = body.len() as u64;
            self.client
                .stage_block(&id, len, RequestContent::from(body), None)
                .await
                .map_err(|e| storage_error("uploading a block (Put Block)", &e))?;
            self.bytes += len;
            self.blocks.push(id);
            self.buf.reserve_exact(self.block_size);
            Ok(())
        }

        /// Stages what is left and commits every block; returns the blob's size in bytes.
        pub(crate) async fn finish(mut self) -> Result<u64, Error> {
            self.stage().await?;
            let list = BlockLookupList {
                latest: Some(std::mem::take(&mut self.blocks)),
                ..BlockLookupList::default()
            };
            let content = RequestContent::try_from(list)
                .map_err(|e| storage_error("writing the block list", &e))?;
            self.client
                .commit_block_list(content, None)
                .await
                .map_err(|e| storage_error("committing the blob (Put Block List)", &e))?;
            Ok(self.bytes)
        }
    }

    /// Reads the blob at `url` (Get Blob) as a stream and calls `line` with each line (without
    /// its line break, trailing `\r` removed), holding one chunk and one line in memory.
    pub(crate) async fn read_blob_lines(
        http: &reqwest::Client,
        url: &reqwest::Url,
        mut line: impl FnMut(&str),
    ) -> Result<(), Error> {
        let client = blob_client(http, url)?;
        let download = client
            .download(None)
            .await
            .map_err(|e| storage_error("reading a blob (Get Blob)", &e))?;
        let mut body = download.body;
        let mut pending: Vec<u8> = Vec::new();
        let mut emit = |bytes: &[u8]| {
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            line(&String::from_utf8_lossy(bytes));
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| storage_error("reading a blob (Get Blob)", &e))?;
            let mut rest: &[u8] = &chunk;
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                if pending.is_empty() {
                    emit(&rest[..i]);
                } else {
                    pending.extend_from_slice(&rest[..i]);
                    emit(&pending);
                    pending.clear();
                }
                rest = &rest[i + 1..];
            }
            pending.extend_from_slice(rest);
        }
        if !pending.is_empty() {
            emit(&pending);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_are_checked_without_echoing_them() {
        let ok = |u: &str| check_storage_url("input", &Secret::new(u)).is_ok();
        assert!(ok("https://acct.blob.core.windows.net/c?sv=1&sig=abc"));
        assert!(ok("http://127.0.0.1:10000/devstoreaccount1/c?sig=abc"));
        assert!(ok("http://localhost:10000/devstoreaccount1/c/b.ndjson"));
        for bad in [
            "",
            "   ",
            "not a url",
            "ftp://acct.blob.core.windows.net/c?sig=s3cr3t",
            "http://acct.blob.core.windows.net/c?sig=s3cr3t",
            "https://acct.blob.core.windows.net/?sig=s3cr3t",
            "https://acct.blob.core.windows.net/c?sig=s3cr3t#frag",
        ] {
            let e = check_storage_url("input", &Secret::new(bad)).unwrap_err();
            assert!(
                matches!(e.kind(), crate::ErrorKind::InvalidInput { field, .. } if field == "input"),
                "{bad}: {e}"
            );
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
            assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
        }
    }

    #[test]
    fn blob_names() {
        assert!(check_blob_name("b", "devices.txt").is_ok());
        assert!(check_blob_name("b", "").is_err());
        assert!(check_blob_name("b", "a/").is_err());
        assert!(check_blob_name("b", "a\nb").is_err());
        assert!(check_blob_name("b", &"x".repeat(1025)).is_err());
    }
}
