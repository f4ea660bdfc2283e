//! Procedural macros of `fmn-rules-sdk`; use them through that crate, which documents them.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Data, DeriveInput, Error, Expr, ExprArray, Fields, FnArg, Ident, ItemFn, Lit,
    LitStr, Meta, Path, ReturnType, Token, Type, parse_macro_input,
};

/// The name of the hidden constant `#[rule]` and `#[extractor]` put beside a function.
fn def_ident(name: &Ident) -> Ident {
    format_ident!("__fmn_def_{}", name)
}

/// Doc comments, joined, with the one leading space rustdoc adds removed.
fn doc_of(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if let Meta::NameValue(nv) = &a.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(l) = &nv.value
            && let Lit::Str(s) = &l.lit
        {
            let v = s.value();
            lines.push(v.strip_prefix(' ').unwrap_or(&v).to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

struct RuleAttr {
    topics: Vec<LitStr>,
    exact: bool,
    key: Option<(LitStr, LitStr, Option<LitStr>)>,
}

/// How to write topic globs, said by every error about them.
const TOPICS_HOW: &str = "write `topics = [\"*.buildsys.build.state.change\"]`";

/// How to write a key, said by every error about one.
const KEY_HOW: &str = "write `key(extractor = \"packages\", arg = \"package\")`";

/// The string value of `name = "..."` inside `key(...)`, or an error showing how to write it.
fn key_option(m: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<LitStr> {
    let value = m.value()?;
    value.parse::<LitStr>().map_err(|e| {
        Error::new(
            e.span(),
            format!("`{name}` is a string in quotes: {KEY_HOW}"),
        )
    })
}

/// The globs of `topics = [...]`.
fn parse_topics(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Vec<LitStr>> {
    let value = meta.value()?;
    let arr: ExprArray = value.parse().map_err(|e| {
        Error::new(
            e.span(),
            format!("`topics` is a list of globs: {TOPICS_HOW}"),
        )
    })?;
    let not_a_string = format!("a topic glob is a string: {TOPICS_HOW}");
    arr.elems
        .into_iter()
        .map(|e| match e {
            Expr::Lit(l) => match l.lit {
                Lit::Str(s) => Ok(s),
                other => Err(Error::new(other.span(), &not_a_string)),
            },
            other => Err(Error::new_spanned(other, &not_a_string)),
        })
        .collect()
}

fn parse_rule_attr(attr: TokenStream) -> syn::Result<RuleAttr> {
    let mut out = RuleAttr {
        topics: Vec::new(),
        exact: false,
        key: None,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("topics") {
            out.topics.extend(parse_topics(&meta)?);
            Ok(())
        } else if meta.path.is_ident("exact") {
            out.exact = true;
            Ok(())
        } else if meta.path.is_ident("key") {
            let (mut extractor, mut arg, mut via) = (None, None, None);
            meta.parse_nested_meta(|m| {
                if m.path.is_ident("extractor") {
                    extractor = Some(key_option(&m, "extractor")?);
                    Ok(())
                } else if m.path.is_ident("arg") {
                    arg = Some(key_option(&m, "arg")?);
                    Ok(())
                } else if m.path.is_ident("via") {
                    via = Some(key_option(&m, "via")?);
                    Ok(())
                } else {
                    Err(m.error(format!(
                        "`key(...)` takes `extractor`, `arg` and `via`: {KEY_HOW}, \
                         with `via = \"packagers\"` to key through a relation"
                    )))
                }
            })?;
            match (extractor, arg) {
                (Some(e), Some(a)) => {
                    out.key = Some((e, a, via));
                    Ok(())
                }
                _ => Err(meta.error(format!(
                    "`key(...)` needs both `extractor` and `arg`: {KEY_HOW}"
                ))),
            }
        } else {
            Err(meta.error(
                "#[rule] takes `topics = [\"...\"]`, `exact` and `key(extractor = \"...\", arg = \"...\")`, \
                 e.g. `#[rule(topics = [\"*.buildsys.build.state.change\"])]`",
            ))
        }
    });
    syn::parse::Parser::parse(parser, attr)?;
    Ok(out)
}

/// The type behind `&T`.
fn referent(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(r) => Some(&r.elem),
        _ => None,
    }
}

/// See `fmn_rules_sdk::rule`.
#[proc_macro_attribute]
pub fn rule(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    // The function is kept beside the error, so that its callers do not fail too.
    match parse_rule_attr(attr).and_then(|attr| expand_rule(attr, &func)) {
        Ok(t) => t.into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#func #e).into()
        }
    }
}

fn expand_rule(attr: RuleAttr, func: &ItemFn) -> syn::Result<TokenStream2> {
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let doc = doc_of(&func.attrs);
    let def = def_ident(name);
    let args_ty = rule_args(func)?;
    let topics = &attr.topics;
    let exact = attr.exact;
    if exact && topics.is_empty() {
        return Err(Error::new(
            Span::call_site(),
            "an `exact` rule is its topics: write `#[rule(topics = [\"*.buildsys.tag\"], exact)]`",
        ));
    }
    if exact && args_ty.is_some() {
        return Err(Error::new(
            Span::call_site(),
            "an `exact` rule is its topics alone, so it takes no arguments: \
             drop `exact`, or the arguments",
        ));
    }
    let (key, key_check) = key_spec(&attr, args_ty)?;
    let (ty, call) = rule_call(name, args_ty);
    Ok(quote! {
        #func

        #key_check

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        pub const #def: ::fmn_rules_sdk::RuleDef = ::fmn_rules_sdk::RuleDef {
            name: #name_str,
            doc: #doc,
            topics: &[#(#topics),*],
            exact: #exact,
            key: #key,
            args: <#ty as ::fmn_rules_sdk::Args>::SCHEMA,
            prepare: ::fmn_rules_sdk::__private::prepare::<#ty>,
            eval: {
                fn thunk(
                    msg: &::fmn_rules_sdk::Message<'_>,
                    args: &(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync),
                ) -> ::core::result::Result<bool, ::std::string::String> {
                    #call
                }
                thunk
            },
        };
    })
}

/// The type of a rule's arguments (`None` for a rule without), once its signature is checked.
fn rule_args(func: &ItemFn) -> syn::Result<Option<&Type>> {
    let inputs: Vec<&FnArg> = func.sig.inputs.iter().collect();
    let args_ty: Option<&Type> = match inputs.as_slice() {
        [FnArg::Typed(_)] => None,
        [FnArg::Typed(_), FnArg::Typed(a)] => Some(referent(&a.ty).ok_or_else(|| {
            Error::new_spanned(
                &a.ty,
                "rule arguments are taken by reference: `args: &MyArgs`",
            )
        })?),
        _ => {
            return Err(Error::new_spanned(
                &func.sig,
                "a rule is `fn(msg: &Message) -> bool` or `fn(msg: &Message, args: &Args) -> bool` \
                 (or `-> Result<bool, E>`)",
            ));
        }
    };
    if matches!(func.sig.output, ReturnType::Default) {
        return Err(Error::new_spanned(
            &func.sig,
            "a rule returns `bool` or `Result<bool, E>`: add `-> bool`",
        ));
    }
    Ok(args_ty)
}

/// The `RuleDef::key` of a rule, and the compile-time check that its argument exists.
fn key_spec(attr: &RuleAttr, args_ty: Option<&Type>) -> syn::Result<(TokenStream2, TokenStream2)> {
    Ok(match (&attr.key, args_ty) {
        (Some(_), None) => {
            return Err(Error::new(
                Span::call_site(),
                "`key(arg = ...)` names one of the rule's arguments, so the rule must take some: \
                 `fn rule(msg: &Message, args: &MyArgs) -> bool`, `MyArgs` having that field",
            ));
        }
        (Some((e, a, via)), Some(ty)) => {
            let msg = format!(
                "`key(arg = {:?})`: `{}` has no field of that name; `arg` names one of its \
                 fields (as `#[serde(rename)]` names it)",
                a.value(),
                quote!(#ty).to_string().replace(' ', "")
            );
            let via = match via {
                Some(v) => quote!(::core::option::Option::Some(#v)),
                None => quote!(::core::option::Option::None),
            };
            (
                quote!(::core::option::Option::Some(::fmn_rules_sdk::KeySpec {
                    extractor: #e,
                    arg: #a,
                    via: #via,
                })),
                quote!(
                    const _: () = ::core::assert!(
                        ::fmn_rules_sdk::__private::has_field(<#ty as ::fmn_rules_sdk::Args>::SCHEMA, #a),
                        #msg
                    );
                ),
            )
        }
        (None, _) => (quote!(::core::option::Option::None), quote!()),
    })
}

/// The arguments' type (`NoArgs` for a rule without) and the call the thunk makes.
fn rule_call(name: &Ident, args_ty: Option<&Type>) -> (TokenStream2, TokenStream2) {
    match args_ty {
        Some(ty) => (
            quote!(#ty),
            quote! {
                let args = ::fmn_rules_sdk::__private::args_of::<#ty>(args)?;
                ::fmn_rules_sdk::IntoVerdict::into_verdict(#name(msg, args))
            },
        ),
        None => (
            quote!(::fmn_rules_sdk::NoArgs),
            quote! {
                let _ = args;
                ::fmn_rules_sdk::IntoVerdict::into_verdict(#name(msg))
            },
        ),
    }
}

/// See `fmn_rules_sdk::extractor`.
#[proc_macro_attribute]
pub fn extractor(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    if !attr.is_empty() {
        let e = Error::new(
            Span::call_site(),
            "#[extractor] takes no options: write `#[extractor]`; the function's name names the extractor",
        )
        .to_compile_error();
        return quote!(#func #e).into();
    }
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let doc = doc_of(&func.attrs);
    let def = def_ident(name);
    let ret = match &func.sig.output {
        ReturnType::Type(_, t) if func.sig.inputs.len() == 1 => t,
        _ => {
            let e = Error::new_spanned(
                &func.sig,
                "an extractor is `fn(msg: &Message) -> Keys` or `-> Option<String>` (or a `Result` of either)",
            )
            .to_compile_error();
            return quote!(#func #e).into();
        }
    };
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        pub const #def: ::fmn_rules_sdk::ExtractorDef = ::fmn_rules_sdk::ExtractorDef {
            name: #name_str,
            doc: #doc,
            kind: <#ret as ::fmn_rules_sdk::IntoExtracted>::KIND,
            run: {
                fn thunk(
                    msg: &::fmn_rules_sdk::Message<'_>,
                ) -> ::core::result::Result<::fmn_rules_sdk::Extracted, ::std::string::String> {
                    ::fmn_rules_sdk::IntoExtracted::into_extracted(#name(msg))
                }
                thunk
            },
        };
    }
    .into()
}

/// An entry of `rules: [...]`: a `#[rule]` function, or `..PATH` to a `&[RuleDef]` (a family's
/// table).
enum RuleEntry {
    Function(Path),
    Group(Path),
}

impl Parse for RuleEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![..]) {
            input.parse::<Token![..]>()?;
            Ok(RuleEntry::Group(input.parse()?))
        } else {
            Ok(RuleEntry::Function(input.parse()?))
        }
    }
}

struct ModuleInput {
    name: LitStr,
    version: Option<LitStr>,
    doc: Option<LitStr>,
    rules: Vec<RuleEntry>,
    extractors: Vec<Path>,
    samples: Option<Path>,
}

impl Parse for ModuleInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut name = None;
        let mut version = None;
        let mut doc = None;
        let mut rules = Vec::new();
        let mut extractors = Vec::new();
        let mut samples = None;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            match key.to_string().as_str() {
                "name" => name = Some(module_string(input, "name", "my_rules")?),
                "version" => version = Some(module_string(input, "version", "1.2.0")?),
                "doc" => doc = Some(module_string(input, "doc", "What my rules are about.")?),
                "rules" => {
                    let content;
                    syn::bracketed!(content in input);
                    rules.extend(Punctuated::<RuleEntry, Token![,]>::parse_terminated(
                        &content,
                    )?);
                }
                "extractors" => {
                    let content;
                    syn::bracketed!(content in input);
                    extractors.extend(Punctuated::<Path, Token![,]>::parse_terminated(&content)?);
                }
                "samples" => samples = Some(input.parse()?),
                _ => {
                    return Err(Error::new_spanned(
                        key,
                        "expected `name`, `version`, `doc`, `rules`, `extractors` or `samples`",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let name = name.ok_or_else(|| {
            Error::new(
                Span::call_site(),
                "module! needs a name: write `name: \"my_rules\",`; preferences then name its rules `my_rules::RULE`",
            )
        })?;
        Ok(ModuleInput {
            name,
            version,
            doc,
            rules,
            extractors,
            samples,
        })
    }
}

/// The string value of `key: "..."` in `module!`, or an error showing how to write it.
fn module_string(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitStr> {
    input.parse::<LitStr>().map_err(|e| {
        Error::new(
            e.span(),
            format!("`{key}` is a string in quotes: write `{key}: \"{example}\",`"),
        )
    })
}

/// Points a path `a::b::f` at the constant `a::b::__fmn_def_f` its attribute generated.
fn def_path(p: &Path) -> syn::Result<Path> {
    let mut out = p.clone();
    let last = out
        .segments
        .last_mut()
        .ok_or_else(|| Error::new_spanned(p, "expected a function name"))?;
    last.ident = def_ident(&last.ident);
    Ok(out)
}

/// See `fmn_rules_sdk::module`.
#[proc_macro]
pub fn module(input: TokenStream) -> TokenStream {
    let m = parse_macro_input!(input as ModuleInput);
    match expand_module(m) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand_module(m: ModuleInput) -> syn::Result<TokenStream2> {
    let functions: Vec<&Path> = m
        .rules
        .iter()
        .filter_map(|e| match e {
            RuleEntry::Function(p) => Some(p),
            RuleEntry::Group(_) => None,
        })
        .collect();
    for list in [&functions, &m.extractors.iter().collect::<Vec<_>>()] {
        let mut seen = std::collections::HashSet::new();
        for p in list {
            if let Some(last) = p.segments.last()
                && !seen.insert(last.ident.to_string())
            {
                return Err(Error::new_spanned(
                    p,
                    format!("`{}` is listed twice: list it once", last.ident),
                ));
            }
        }
    }
    // Consecutive functions share one group; each `..TABLE` is a group of its own.
    let mut groups: Vec<TokenStream2> = Vec::new();
    let mut run: Vec<Path> = Vec::new();
    for e in &m.rules {
        match e {
            RuleEntry::Function(p) => run.push(def_path(p)?),
            RuleEntry::Group(p) => {
                if !run.is_empty() {
                    groups.push(quote!(&[#(#run),*]));
                    run.clear();
                }
                groups.push(quote!(#p));
            }
        }
    }
    if !run.is_empty() {
        groups.push(quote!(&[#(#run),*]));
    }
    let extractors = m
        .extractors
        .iter()
        .map(def_path)
        .collect::<syn::Result<Vec<_>>>()?;
    let samples = match &m.samples {
        Some(p) => quote!(#p),
        None => quote!(&[]),
    };
    let name = &m.name;
    let version = match &m.version {
        Some(v) => quote!(#v),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let doc = match &m.doc {
        Some(d) => quote!(#d),
        None => quote!(::core::env!("CARGO_PKG_DESCRIPTION")),
    };
    Ok(quote! {
        /// This crate's rule module: its rules and extractors.
        pub static MODULE: ::fmn_rules_sdk::ModuleDef = ::fmn_rules_sdk::ModuleDef {
            name: #name,
            version: #version,
            doc: #doc,
            rule_groups: &[#(#groups),*],
            extractors: &[#(#extractors),*],
            samples: #samples,
        };
        ::fmn_rules_sdk::export_guest!(MODULE);
    })
}

/// See `fmn_rules_sdk::rules`.
#[proc_macro]
pub fn rules(input: TokenStream) -> TokenStream {
    let paths =
        match syn::parse::Parser::parse(Punctuated::<Path, Token![,]>::parse_terminated, input) {
            Ok(p) => p,
            Err(e) => return e.to_compile_error().into(),
        };
    match paths.iter().map(def_path).collect::<syn::Result<Vec<_>>>() {
        Ok(defs) => quote!(&[#(#defs),*]).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Serde attributes that matter to the schema: `rename` and `default`.
fn serde_field_opts(attrs: &[Attribute]) -> syn::Result<(Option<String>, bool)> {
    let (mut rename, mut default) = (None, false);
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("rename") {
                let value = m.value()?;
                let name = value.parse::<LitStr>().map_err(|e| {
                    Error::new(
                        e.span(),
                        "`rename` is a string in quotes: write `#[serde(rename = \"name\")]`",
                    )
                })?;
                rename = Some(name.value());
            } else if m.path.is_ident("default") {
                default = true;
                if m.input.peek(Token![=]) {
                    m.value()?.parse::<LitStr>()?;
                }
            } else if m.input.peek(Token![=]) {
                m.value()?.parse::<Expr>()?;
            } else if m.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in m.input);
                content.parse::<TokenStream2>()?;
            }
            Ok(())
        })?;
    }
    Ok((rename, default))
}

/// Words for a Rust type, for argument docs.
fn type_words(ty: &Type) -> (String, bool) {
    if let Type::Path(tp) = ty
        && let Some(seg) = tp.path.segments.last()
    {
        let inner = || match &seg.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            }),
            _ => None,
        };
        let id = seg.ident.to_string();
        return match id.as_str() {
            "String" | "str" | "Cow" => ("string".into(), true),
            "bool" => ("boolean".into(), true),
            "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
                ("integer".into(), true)
            }
            "f32" | "f64" => ("number".into(), true),
            "Option" => match inner() {
                Some(t) => (type_words(t).0, false),
                None => ("any".into(), false),
            },
            "Vec" | "BTreeSet" | "HashSet" => match inner() {
                Some(t) => (format!("list of {}", type_words(t).0), true),
                None => ("list".into(), true),
            },
            _ => (id, true),
        };
    }
    if let Type::Reference(r) = ty {
        return type_words(&r.elem);
    }
    ("any".into(), true)
}

/// See `fmn_rules_sdk::Args`.
#[proc_macro_derive(Args, attributes(serde))]
pub fn derive_args(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand_args(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand_args(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Struct(s) = &input.data else {
        return Err(Error::new_spanned(
            input,
            "#[derive(Args)] needs a struct with named fields, the rule's argument names: \
             `struct MyArgs { package: String }`",
        ));
    };
    let Fields::Named(fields) = &s.fields else {
        return Err(Error::new_spanned(
            input,
            "#[derive(Args)] needs a struct with named fields, the rule's argument names: \
             `struct MyArgs { package: String }`",
        ));
    };
    let (_, struct_default) = serde_field_opts(&input.attrs)?;
    let mut entries = Vec::new();
    for f in &fields.named {
        let Some(ident) = &f.ident else { continue };
        let (rename, default) = serde_field_opts(&f.attrs)?;
        let name = rename.unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
        let (ty, required) = type_words(&f.ty);
        let required = required && !default && !struct_default;
        let doc = doc_of(&f.attrs);
        entries.push(quote! {
            ::fmn_rules_sdk::ArgField { name: #name, ty: #ty, doc: #doc, required: #required }
        });
    }
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_g ::fmn_rules_sdk::Args for #name #ty_g #where_g {
            const SCHEMA: &'static [::fmn_rules_sdk::ArgField] = &[#(#entries),*];
        }
    })
}
