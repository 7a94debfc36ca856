//! Collects every error of one derive so the user sees them all in one compile.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Error accumulator, in the manner of serde_derive's `Ctxt`: dropping it before
/// [`into_compile_errors`](Self::into_compile_errors) checked its errors panics, so a
/// mistake in this crate cannot silently lose a user's compile error.
pub struct Ctxt {
    /// `None` once checked.
    errors: Option<Vec<syn::Error>>,
}

impl Default for Ctxt {
    fn default() -> Self {
        Self {
            errors: Some(Vec::new()),
        }
    }
}

impl Ctxt {
    /// Records an error spanned at `tokens`.
    pub fn error_spanned_by(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.syn_error(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error that syn already built.
    pub fn syn_error(&mut self, error: syn::Error) {
        if let Some(errors) = self.errors.as_mut() {
            errors.push(error);
        }
    }

    /// The collected errors as `compile_error!`s, or `None` if there were none.
    pub fn into_compile_errors(mut self) -> Option<TokenStream> {
        let mut errors = self.errors.take().unwrap_or_default().into_iter();
        let mut combined = errors.next()?;
        for error in errors {
            combined.combine(error);
        }
        Some(combined.into_compile_error())
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if self.errors.is_some() && !std::thread::panicking() {
            panic!(
                "metrics-derive dropped its error context without checking it: a bug in metrics-derive"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_errors_come_out_together() {
        let mut cx = Ctxt::default();
        cx.error_spanned_by(quote::quote!(a), "first");
        cx.error_spanned_by(quote::quote!(b), "second");
        let text = cx.into_compile_errors().unwrap().to_string();
        assert!(text.contains("first") && text.contains("second"), "{text}");
        assert!(Ctxt::default().into_compile_errors().is_none());
    }

    #[test]
    #[should_panic(expected = "without checking it")]
    fn an_unchecked_context_panics_when_dropped() {
        let mut cx = Ctxt::default();
        cx.error_spanned_by(quote::quote!(a), "lost");
        drop(cx);
    }
}
