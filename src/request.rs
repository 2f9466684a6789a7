//! What every operation builder shares: the standard per-call setters and awaiting a builder.
//!
//! Each operation keeps its own public builder type with its own fields, so rustdoc shows
//! exactly the setters an operation takes. The setter *bodies* were the same in every builder
//! of both services, so [`setters!`] writes them from a list of names; the doc comments stay at
//! each use, because what a setter means (which ETag, which page size limit) depends on the
//! operation.

/// Writes the standard builder setters named in the list, in that order, each with the doc
/// comments written before its name:
///
/// | name | signature | sets |
/// |---|---|---|
/// | `options` | `options(RequestOptions)` | `self.options` (a default doc if none is given) |
/// | `condition` | `condition(Condition)` | `self.condition = Some(…)` |
/// | `if_match` | `if_match(impl Into<ETag>)` | `self.condition = Some(Condition::IfMatch(…))` |
/// | `page_size` | `page_size(u32)` | `self.page_size = Some(…)` |
/// | `top` | `top(u32)` | `self.top = Some(…)` |
/// | `continuation` | `continue_from(Continuation)` | `self.continuation = Some(…)` (a default doc) |
/// | `continue_from` | `continue_from(Continuation)` | `self.start = Some(…)` |
///
/// Both resume setters are named `continue_from`, the one resume verb of both clients.
///
/// ```text
/// impl DeleteTwin {
///     setters! {
///         /// Only delete if the twin's ETag is still `etag` (else 412).
///         if_match;
///         /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`].
///         condition;
///         options;
///     }
/// }
/// ```
macro_rules! setters {
    () => {};
    (options; $($rest:tt)*) => {
        $crate::request::setters! {
            /// Per-call options (retry policy, timeout, client request id).
            options; $($rest)*
        }
    };
    (continuation; $($rest:tt)*) => {
        $crate::request::setters! {
            /// Resumes from a continuation saved from [`Pager::continuation`](crate::Pager::continuation)
            /// of the same listing; a continuation of another operation is an
            /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error on the field
            /// `continuation` before anything is sent.
            continuation; $($rest)*
        }
    };
    ($(#[$doc:meta])+ options; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            options(options: $crate::RequestOptions) => options = options; $($rest)* }
    };
    ($(#[$doc:meta])+ condition; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            condition(condition: $crate::Condition) =>
                condition = Some(condition); $($rest)* }
    };
    ($(#[$doc:meta])+ if_match; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            if_match(etag: impl Into<$crate::ETag>) =>
                condition = Some($crate::Condition::IfMatch(etag.into())); $($rest)* }
    };
    ($(#[$doc:meta])+ page_size; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            page_size(n: u32) => page_size = Some(n); $($rest)* }
    };
    ($(#[$doc:meta])+ top; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+] top(n: u32) => top = Some(n); $($rest)* }
    };
    ($(#[$doc:meta])+ continuation; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            continue_from(continuation: $crate::Continuation) =>
                continuation = Some(continuation); $($rest)* }
    };
    ($(#[$doc:meta])+ continue_from; $($rest:tt)*) => {
        $crate::request::setters! { @one [$(#[$doc])+]
            continue_from(continuation: $crate::Continuation) =>
                start = Some(continuation); $($rest)* }
    };
    // One setter: `name(arg: Type) => field = value;`, then the rest of the list.
    (@one [$($doc:tt)*] $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;
        $($rest:tt)*) => {
        $($doc)*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$field = $value;
            self
        }
        $crate::request::setters! { $($rest)* }
    };
}
pub(crate) use setters;
