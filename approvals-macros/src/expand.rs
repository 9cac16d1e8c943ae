//! Generating the gated function.
//!
//! The function keeps its signature. Its body becomes: evaluate the
//! attribute's expressions (which may borrow the parameters), move the
//! parameters into the request's arguments, ask the gate, and, on approval,
//! take the very same values out again inside the body, which is emitted
//! once, in a block of its own, inside `async move`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, PatIdent, PathArguments,
    ReturnType, Stmt, Type, TypeParamBound,
};

use crate::attr::{Args, Errors, ParamArgs};

/// The entry point: the gated function, or the user's function unchanged
/// (less the `#[approval]` attributes) followed by every error found.
pub(crate) fn requires_approval(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, &mut errors);
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.at(
                Span::call_site(),
                "`#[requires_approval]` goes on an `async fn` with a body (a free function, or a method in an `impl` block)",
            );
            let errors = errors.into_compile_errors();
            return quote!(#item #errors);
        }
    };
    let shape = Shape::of(&function, &mut errors);
    let params = Param::take_all(&mut function, &mut errors);
    match shape {
        Some(shape) if errors.is_empty() => expand(&args, function, shape, &params),
        _ => {
            let errors = errors.into_compile_errors();
            quote!(#function #errors)
        }
    }
}

/// How the function is written.
enum Shape {
    /// `async fn … -> R { body }`: the body is wrapped.
    Async { output: Type },
    /// An `async fn` already rewritten by `#[async_trait]` into
    /// `fn … -> Pin<Box<dyn Future<Output = R> + …>> { Box::pin(async move { … }) }`:
    /// the inside of the `async move` block is wrapped.
    AsyncTrait { output: Type },
}

impl Shape {
    fn of(function: &ItemFn, errors: &mut Errors) -> Option<Self> {
        let sig = &function.sig;
        if let Some(constness) = &sig.constness {
            errors.at(
                constness.span,
                "`#[requires_approval]` cannot gate a `const fn`: asking for approval happens at run time; remove `const`",
            );
            return None;
        }
        if sig.asyncness.is_some() {
            let output = match &sig.output {
                ReturnType::Type(_, output) => (**output).clone(),
                ReturnType::Default => {
                    errors.at(
                        sig.paren_token.span.close(),
                        "a gated function must return a `Result` whose error type implements `From<approvals::Error>`, so that a denial can be returned: add `-> Result<(), YourError>`",
                    );
                    return None;
                }
            };
            return check_result(output, errors).map(|output| Shape::Async { output });
        }
        if let Some(output) = async_trait_output(function) {
            return check_result(output, errors).map(|output| Shape::AsyncTrait { output });
        }
        let is_test = function.attrs.iter().any(|attr| {
            attr.path()
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "test")
        });
        let message = if is_test {
            "the `async` keyword is missing from the function declaration: with `#[tokio::test]`, put `#[requires_approval]` above `#[tokio::test]`, so that it sees the `async fn`"
        } else {
            "the `async` keyword is missing from the function declaration: `#[requires_approval]` gates an `async fn`, since asking for approval waits for people"
        };
        errors.at(sig.fn_token.span, message);
        None
    }

    fn output(&self) -> &Type {
        match self {
            Shape::Async { output } | Shape::AsyncTrait { output } => output,
        }
    }
}

/// Accepts a path type whose last segment ends in `Result` (`Result`,
/// `std::io::Result`, `anyhow::Result`, `ApiResult`); the compiler checks the
/// rest (`E: From<approvals::Error>`).
fn check_result(output: Type, errors: &mut Errors) -> Option<Type> {
    let mut inner = &output;
    while let Type::Paren(paren) = inner {
        inner = &paren.elem;
    }
    let is_result = match inner {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident.to_string().ends_with("Result")),
        _ => false,
    };
    if is_result {
        Some(output)
    } else {
        errors.at(
            output.span(),
            format!(
                "a gated function must return a `Result` whose error type implements `From<approvals::Error>`, so that a denial can be returned: found `{}`; return `Result<{}, YourError>` instead",
                quote!(#output).to_string().replace(' ', ""),
                quote!(#output),
            ),
        );
        None
    }
}

/// The `R` of an `#[async_trait]` method: its signature returns
/// `Pin<Box<dyn Future<Output = R> + …>>` and its body is one
/// `Box::pin(async move { … })`.
fn async_trait_output(function: &ItemFn) -> Option<Type> {
    async_move_block(&function.block)?;
    let ReturnType::Type(_, output) = &function.sig.output else {
        return None;
    };
    let pin = last_generic_type(output, "Pin")?;
    let boxed = last_generic_type(pin, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let future = bound.path.segments.last()?;
        if future.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(arguments) = &future.arguments else {
            return None;
        };
        arguments.args.iter().find_map(|argument| match argument {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// The single type argument of `Name<T>`.
fn last_generic_type<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return None;
    };
    match arguments.args.first()? {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

/// The `async move` block of a body that is exactly `Box::pin(async move { … })`.
fn async_move_block(block: &Block) -> Option<&Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    match call.args.first()? {
        Expr::Async(async_block) if async_block.capture.is_some() => Some(&async_block.block),
        _ => None,
    }
}

fn async_move_block_mut(block: &mut Block) -> Option<&mut Block> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    match call.args.first_mut()? {
        Expr::Async(async_block) => Some(&mut async_block.block),
        _ => None,
    }
}

/// One parameter other than the receiver.
struct Param {
    /// The name in the signature (a pattern that is not a plain name gets a
    /// generated one).
    ident: Ident,
    /// The pattern the body binds: the user's own (`mut x`, `(a, b)`).
    pat: Pat,
    /// Where a failed `Serialize` check points.
    ty_span: Span,
    /// The key in the request's arguments; `None` when skipped.
    key: Option<String>,
    /// The `mask = "…"` spec.
    mask: Option<String>,
    /// `#[approval(editable)]`: its type, which the body's value is rebuilt
    /// as when a reviewer edits it.
    editable: Option<Type>,
}

impl Param {
    /// Reads every parameter's `#[approval(…)]` (removing it) and gives each
    /// pattern that is not a plain name a name, so that the signature binds
    /// every parameter to one identifier.
    fn take_all(function: &mut ItemFn, errors: &mut Errors) -> Vec<Param> {
        let mut params = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let typed = function
            .sig
            .inputs
            .iter_mut()
            .filter_map(|input| match input {
                FnArg::Typed(typed) => Some(typed),
                FnArg::Receiver(_) => None,
            });
        for (position, typed) in typed.enumerate() {
            let args = ParamArgs::take(&mut typed.attrs, errors);
            let pat = (*typed.pat).clone();
            let (ident, key) = match &pat {
                Pat::Ident(PatIdent {
                    ident,
                    subpat: None,
                    by_ref: None,
                    ..
                }) if !is_async_trait_positional(ident) => {
                    (ident.clone(), ident.unraw().to_string())
                }
                Pat::Ident(PatIdent {
                    ident,
                    subpat: None,
                    by_ref: None,
                    ..
                }) => (ident.clone(), format!("arg{position}")),
                _ => (
                    format_ident!("__approvals_arg{}", position, span = Span::mixed_site()),
                    format!("arg{position}"),
                ),
            };
            // The signature binds a plain name; `mut` and patterns move to
            // the body's `let`.
            *typed.pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: ident.clone(),
                subpat: None,
            });
            let key = match (&args.skip, &args.rename) {
                (Some(_), _) => None,
                (None, Some(rename)) => Some((rename.value.value(), rename.value.span())),
                (None, None) => Some((key, typed.pat.span())),
            };
            let key = key.map(|(key, span)| {
                if keys.contains(&key) {
                    errors.at(
                        span,
                        format!(
                            "two arguments are named `{key}` in the approval request; give one another name with `#[approval(rename = \"…\")]`"
                        ),
                    );
                }
                keys.push(key.clone());
                key
            });
            if let (Some(editable), Type::Reference(_)) = (&args.editable, &*typed.ty) {
                errors.at(
                    editable.key,
                    "a reference cannot be `#[approval(editable)]`: an edited argument is rebuilt from the approved JSON as a value of its own; take an owned type (`String` for `&str`)",
                );
            }
            params.push(Param {
                ident,
                pat,
                ty_span: typed.ty.span(),
                key,
                mask: args.mask.map(|mask| mask.value),
                editable: args.editable.map(|_| (*typed.ty).clone()),
            });
        }
        params
    }
}

/// `__arg0`, `__arg1`, …: the names `#[async_trait]` gives to parameters
/// that are patterns.
fn is_async_trait_positional(ident: &Ident) -> bool {
    ident
        .to_string()
        .strip_prefix("__arg")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The gated function.
fn expand(args: &Args, mut function: ItemFn, shape: Shape, params: &[Param]) -> TokenStream {
    let krate = args.krate.as_ref().map_or_else(
        || quote!(::approvals),
        |krate| {
            let path = &krate.value;
            quote!(#path)
        },
    );
    let private = quote!(#krate::__private);

    let action = match &args.name {
        Some(name) => {
            let name = &name.value;
            quote!(#name)
        }
        // A method's attribute cannot see its `impl`, so the name is read
        // from the compiler: the type name of a function declared here is
        // the gated function's path, with `Self` and the trait (see
        // `DefaultAction` for the format).
        None => quote! {{
            fn __approvals_action() {}
            static __APPROVALS_ACTION: #private::DefaultAction = #private::DefaultAction::new();
            __APPROVALS_ACTION.name(__approvals_action)
        }},
    };
    let description = args
        .description
        .as_ref()
        .map(|description| description.value.value())
        .unwrap_or_else(|| doc_text(&function.attrs));
    let description = (!description.is_empty()).then(|| quote!(.description(#description)));
    let risk = args.risk.as_ref().map(|risk| {
        let variant = Ident::new(risk.value.variant(), risk.key);
        quote!(.risk(#private::Risk::#variant))
    });
    let requirement = args.approvers.as_ref().map(|approvers| {
        let approvers = approvers.value.iter().map(crate::attr::Channel::policy_text);
        let quorum = args.quorum.as_ref().map(|quorum| {
            let quorum = quorum.value;
            quote!(.quorum(#quorum))
        });
        let timeout = args.timeout.as_ref().map(|timeout| {
            let seconds = timeout.value.as_secs();
            let nanos = timeout.value.subsec_nanos();
            quote!(.timeout(#private::Duration::new(#seconds, #nanos)))
        });
        quote! {
            .requirement(#private::RequirementBuilder::new().approvers([#(#approvers),*]) #quorum #timeout)
        }
    });

    // The attribute's expressions run first: they may borrow parameters,
    // which move into the request next.
    let gate = match &args.gate {
        Some(gate) => {
            let expr = &gate.value;
            quote_spanned!(expr.span()=> #private::explicit_gate(&(#expr)))
        }
        None => quote!(#private::current_gate()),
    };
    let (requester_let, requester_call) = match &args.requester {
        Some(requester) => {
            let expr = &requester.value;
            (
                quote_spanned!(expr.span()=> let __approvals_requester = #private::requester(#expr);),
                quote!(.requester(__approvals_requester)),
            )
        }
        None => (quote!(), quote!()),
    };
    let (justification_let, justification_call) = match &args.justification {
        Some(justification) => {
            let expr = &justification.value;
            (
                quote_spanned!(expr.span()=> let __approvals_justification = #private::justification(#expr);),
                quote!(.justification(__approvals_justification)),
            )
        }
        None => (quote!(), quote!()),
    };

    let included: Vec<&Param> = params.iter().filter(|param| param.key.is_some()).collect();
    let names = included.iter().filter_map(|param| param.key.as_deref());
    let values = included.iter().rev().fold(quote!(()), |rest, param| {
        let ident = &param.ident;
        let check = respan(quote!(#private::argument), param.ty_span);
        let value = quote!(#check(#ident));
        quote!((#value, #rest))
    });
    let masks = included.iter().filter_map(|param| {
        let key = param.key.as_deref()?;
        let spec = param.mask.as_deref()?;
        Some(quote!(.mask_argument(#key, #spec)))
    });

    // Editable parameters: the request takes edits of them, each checked
    // against its type, and the body rebuilds them from the approved JSON.
    let editable: Vec<(&str, &Type, &Param)> = included
        .iter()
        .filter_map(|param| Some((param.key.as_deref()?, param.editable.as_ref()?, *param)))
        .collect();
    let editable_keys: Vec<&str> = editable.iter().map(|(key, _, _)| *key).collect();
    // One `Field` per editable parameter, made where the parameter's type
    // is checked once; the edit check and the body share it.
    let field_ident = |param: &Param| {
        format_ident!(
            "__approvals_field_{}",
            param.ident.unraw(),
            span = Span::mixed_site()
        )
    };
    let fields_let = editable.iter().map(|(_, ty, param)| {
        let name = field_ident(param);
        let make = respan(quote!(#private::field::<#ty>), param.ty_span);
        quote!(let #name = #make();)
    });
    let editable_call = (!editable.is_empty()).then(|| {
        let checks = editable.iter().map(|(key, _, param)| {
            let name = field_ident(param);
            quote!((#key, #name.check))
        });
        quote! {
            .editable_with(
                [#(#editable_keys),*],
                move |__approvals_bytes: &[u8]| #private::check_editable(__approvals_bytes, &[#(#checks),*]),
            )
        }
    });
    // Inside the body: each editable parameter, as approved.
    let rebuild = |name: &TokenStream, param: &Param| -> TokenStream {
        let (Some(key), Some(ty)) = (param.key.as_deref(), param.editable.as_ref()) else {
            return quote!();
        };
        let ident = &param.ident;
        let field = field_ident(param);
        quote! {
            let #name: #ty = match __approvals_edited.take(#key, #ident, #field) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => {
                    return ::core::result::Result::Err(#private::ErrorType::from_gate(error));
                }
            };
        }
    };

    // Spanned at the return type, so that an error type without
    // `From<approvals::Error>` is reported there.
    let output_span = shape.output().span();
    let run = respan(quote!(#private::run), output_span);
    let wait = respan(quote!(.await), output_span);
    // The request, too (a parameter that is not `Serialize` is reported
    // only at the parameter: what `argument` returns serializes whatever
    // its type).
    let request = Ident::new("__approvals_request", output_span);
    let prepare = quote! {
        #(#fields_let)*
        let __approvals_gate = #gate;
        #requester_let
        #justification_let
        let __approvals_request = #private::ActionRequest::new(
            #action,
            #private::Arguments::new(&[#(#names),*], #values),
        )
        #description
        #risk
        #requester_call
        #justification_call
        #requirement
        .declared_at(::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!()))
        #(#masks)*
        #editable_call;
    };
    let (run, closure_head) = if editable.is_empty() {
        (run, quote!(move |__approvals_arguments| async move))
    } else {
        (
            respan(quote!(#private::run_editable), output_span),
            quote!(&[#(#editable_keys),*], move |__approvals_arguments, mut __approvals_edited| async move),
        )
    };

    match shape {
        Shape::Async { output } => {
            let patterns = included.iter().rev().fold(quote!(()), |rest, param| {
                let pat = &param.pat;
                if param.editable.is_some() {
                    let ident = &param.ident;
                    quote!((#private::Arg { value: #ident, .. }, #rest))
                } else {
                    quote!((#private::Arg { value: #pat, .. }, #rest))
                }
            });
            let rebuilt = included.iter().map(|param| {
                let pat = &param.pat;
                rebuild(&quote!(#pat), param)
            });
            let skipped = params
                .iter()
                .filter(|param| param.key.is_none())
                .map(|param| {
                    let (pat, ident) = (&param.pat, &param.ident);
                    quote!(let #pat = #ident;)
                });
            let mut output = output;
            EraseImplTrait.visit_type_mut(&mut output);
            let body = &function.block;
            let run = call(
                &run,
                quote! {
                    __approvals_gate, #request, #closure_head {
                        let #patterns = #private::Arguments::into_values(__approvals_arguments);
                        #(#rebuilt)*
                        #(#skipped)*
                        let __approvals_output: #output = #body;
                        #[allow(unreachable_code)]
                        __approvals_output
                    }
                },
                output_span,
            );
            let block = quote! {{
                #prepare
                #run #wait
            }};
            match syn::parse2::<Block>(block) {
                Ok(block) => *function.block = block,
                Err(error) => return error.into_compile_error(),
            }
        }
        Shape::AsyncTrait { .. } => {
            // `#[async_trait]` already rebinds every parameter (and `self`)
            // inside its block; the body binds the signature's names.
            let patterns = included.iter().rev().fold(quote!(()), |rest, param| {
                let ident = &param.ident;
                quote!((#private::Arg { value: #ident, .. }, #rest))
            });
            let rebuilt = included.iter().map(|param| {
                let ident = &param.ident;
                rebuild(&quote!(#ident), param)
            });
            let Some(inner) = async_move_block_mut(&mut function.block) else {
                return quote!(#function);
            };
            let stmts = &inner.stmts;
            let run = call(
                &run,
                quote! {
                    __approvals_gate, #request, #closure_head {
                        let #patterns = #private::Arguments::into_values(__approvals_arguments);
                        #(#rebuilt)*
                        #(#stmts)*
                    }
                },
                output_span,
            );
            let block = quote! {{
                #prepare
                #run #wait
            }};
            match syn::parse2::<Block>(block) {
                Ok(block) => *inner = block,
                Err(error) => return error.into_compile_error(),
            }
        }
    }
    quote!(#function)
}

/// `callee(arguments)`, the call itself spanned at `span` (the arguments
/// keep their own spans), so that an unmet bound of the callee is reported
/// at `span`.
fn call(callee: &TokenStream, arguments: TokenStream, span: Span) -> TokenStream {
    let mut arguments = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, arguments);
    arguments.set_span(span);
    quote!(#callee #arguments)
}

/// `tokens` with every span set to `span`, so that the compiler reports
/// errors about them there.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = proc_macro2::TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The doc comment, as one text: lines joined, the one leading space of
/// `/// text` removed, trimmed.
fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value()),
            _ => None,
        })
        .flat_map(|text| {
            text.lines()
                .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// Replaces `impl Trait` with `_`, so that the body's type can be written
/// in a `let` (where `impl Trait` is not allowed) and still be inferred.
struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.impl_token.span),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
