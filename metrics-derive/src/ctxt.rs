//! Collects every error of one derive so the user sees them all in one compile.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Error accumulator, in the manner of serde_derive's `Ctxt`.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error spanned at `tokens`.
    pub fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error that syn already built.
    pub fn syn_error(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// The collected errors as `compile_error!`s, or `None` if there were none.
    pub fn into_compile_errors(self) -> Option<TokenStream> {
        let mut errors = self.errors.into_iter();
        let mut combined = errors.next()?;
        for error in errors {
            combined.combine(error);
        }
        Some(combined.into_compile_error())
    }
}
