//! The `#[requires_approval]` attribute of [`approvals`].
//!
//! Use it through the `approvals` crate (feature `macros`, on by default),
//! where it is documented: the expansion names items of `approvals` that this
//! crate does not provide.
//!
//! [`approvals`]: https://docs.rs/approvals

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Gates an async function behind the approval gate of `approvals`.
///
/// See `approvals::requires_approval` for the arguments, the semantics and
/// examples.
#[proc_macro_attribute]
pub fn requires_approval(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::requires_approval(args.into(), item.into()).into()
}
