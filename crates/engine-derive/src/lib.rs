//! Derives that let a resource kind be declared once, on its own fields.
//!
//! `#[derive(Kind)]` on a kind's arguments struct:
//!
//! ```text
//! #[derive(Serialize, Deserialize, Kind)]
//! #[kind(type_name = "aws:ec2:Subnet", outputs = IdOutputs)]
//! pub struct Subnet {
//!     #[kind(replace)]
//!     pub cidr_block: Input<String>,
//!     pub map_public_ip_on_launch: bool,
//! }
//! ```
//!
//! implements `ams_engine::Kind`: the type name, the outputs type, and the arguments whose
//! change forces a replacement (`#[kind(replace)]`) or whose value is secret (`#[kind(secret)]`),
//! taken from the fields that carry them, so no list of names is kept apart from the fields.
//! `#[kind(..., immutable)]` on the struct makes every argument force a replacement.
//!
//! On a flattened struct (`#[serde(flatten)]`, whose type derives `Fields`), `#[kind(replace)]`
//! names every field of it; `#[kind(replace, except("instance_type", "user_data"))]` names all
//! but those, which the kind then changes in place. Each excepted name must be a field of the
//! flattened struct: a name that is not fails to compile (a constant assertion on its
//! `Fields::NAMES`).
//!
//! `#[derive(Outputs)]` on a kind's outputs struct makes a typed accessor per field: a
//! `Ref<Subnet>` then offers `subnet.id()`, an `Output<String>` whose key is the field's name.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote, quote_spanned};
use syn::{parse_macro_input, Data, DeriveInput, Fields, LitStr, Type};

#[proc_macro_derive(Kind, attributes(kind))]
pub fn derive_kind(input: TokenStream) -> TokenStream {
    expand(parse_macro_input!(input as DeriveInput), kind)
}

#[proc_macro_derive(Outputs, attributes(kind))]
pub fn derive_outputs(input: TokenStream) -> TokenStream {
    expand(parse_macro_input!(input as DeriveInput), outputs)
}

/// The code `derive` writes for `input`, or its error where the compiler shows it.
fn expand(input: DeriveInput, derive: fn(&DeriveInput) -> syn::Result<Tokens>) -> TokenStream {
    derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn named_fields(input: &DeriveInput) -> syn::Result<&syn::FieldsNamed> {
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => Ok(fields),
            _ => Err(syn::Error::new_spanned(
                &input.ident,
                "a kind is a struct with named fields",
            )),
        },
        _ => Err(syn::Error::new_spanned(
            &input.ident,
            "a kind is a struct with named fields",
        )),
    }
}

fn kind(input: &DeriveInput) -> syn::Result<Tokens> {
    let mut type_name: Option<LitStr> = None;
    let mut outputs_type: Option<Type> = None;
    // `immutable`: no argument changes in place; every change replaces the resource.
    let mut immutable = false;
    for attribute in input.attrs.iter().filter(|a| a.path().is_ident("kind")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("type_name") {
                type_name = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("outputs") {
                outputs_type = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("immutable") {
                immutable = true;
            } else {
                return Err(
                    meta.error("expected `type_name = \"...\"`, `outputs = Type` or `immutable`")
                );
            }
            Ok(())
        })?;
    }
    let ident = &input.ident;
    let type_name = type_name.ok_or_else(|| {
        syn::Error::new_spanned(
            ident,
            "missing #[kind(type_name = \"provider:service:Kind\")]",
        )
    })?;
    let outputs_type = outputs_type
        .ok_or_else(|| syn::Error::new_spanned(ident, "missing #[kind(outputs = OutputsType)]"))?;
    let mut replace = Vec::new();
    let mut secret = Vec::new();
    let mut checks = Vec::new();
    let mut runtime_checks = Vec::new();
    let generic = !input.generics.params.is_empty();
    for field in &named_fields(input)?.named {
        let Some(name) = &field.ident else { continue };
        let mut marks = field_marks(field)?;
        if immutable {
            if marks.replace {
                return Err(syn::Error::new_spanned(
                    name,
                    "the kind is `immutable`: every field is replaced on a change already",
                ));
            }
            marks.replace = true;
        }
        let flattened = is_flattened(field);
        if !marks.except.is_empty() && (!flattened || !marks.replace) {
            return Err(syn::Error::new_spanned(
                name,
                "`except(...)` goes with `replace` on a flattened field (#[serde(flatten)])",
            ));
        }
        // A flattened struct's fields are top-level arguments: name them all (but the excepted).
        let names = if flattened {
            let ty = &field.ty;
            quote! { <#ty as ::ams_engine::Fields>::NAMES.iter().copied() }
        } else {
            let name = serde_rename(field).unwrap_or_else(|| name.to_string());
            quote! { [#name] }
        };
        if marks.replace {
            let except = &marks.except;
            replace.push(if except.is_empty() {
                names.clone()
            } else {
                quote! { #names.filter(|name| ![#(#except),*].contains(name)) }
            });
        }
        if marks.secret {
            secret.push(names);
        }
        if !marks.except.is_empty() {
            let check = except_check(&field.ty, &marks.except, generic);
            if generic {
                runtime_checks.push(check);
            } else {
                checks.push(check);
            }
        }
    }
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #(#checks)*
        impl #impl_generics ::ams_engine::Kind for #ident #type_generics #where_clause {
            const TYPE: &'static str = #type_name;
            type Outputs = #outputs_type;
            fn replace_on() -> ::std::vec::Vec<&'static str> {
                #(#runtime_checks)*
                let mut names = ::std::vec::Vec::new();
                #(names.extend(#replace);)*
                names
            }
            fn secret() -> ::std::vec::Vec<&'static str> {
                let mut names = ::std::vec::Vec::new();
                #(names.extend(#secret);)*
                names
            }
        }
    })
}

/// What `#[kind(...)]` says of one field of a kind.
#[derive(Default)]
struct Marks {
    replace: bool,
    secret: bool,
    /// `except("a", "b")`: fields of the flattened struct that `replace` leaves out.
    except: Vec<LitStr>,
}

fn field_marks(field: &syn::Field) -> syn::Result<Marks> {
    let mut marks = Marks::default();
    for attribute in field.attrs.iter().filter(|a| a.path().is_ident("kind")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("replace") {
                marks.replace = true;
            } else if meta.path.is_ident("secret") {
                marks.secret = true;
            } else if meta.path.is_ident("except") {
                let content;
                syn::parenthesized!(content in meta.input);
                let names = content
                    .parse_terminated(<LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
                if names.is_empty() {
                    return Err(meta.error("`except(...)` names at least one field"));
                }
                marks.except.extend(names);
            } else {
                return Err(meta.error("expected `replace`, `except(\"field\", ...)` or `secret`"));
            }
            Ok(())
        })?;
    }
    Ok(marks)
}

/// A compile-time check that every name of `except` is a field of the flattened type `ty`: an
/// anonymous constant asserting it on `<ty as Fields>::NAMES`. A generic kind (whose constant
/// could not name its parameters) is checked when `replace_on` first runs instead.
fn except_check(ty: &Type, except: &[LitStr], generic: bool) -> Tokens {
    let asserts = except.iter().map(|name| {
        let message = format!(
            "#[kind(replace, except(..))]: `{}` is not a field of the flattened struct",
            name.value()
        );
        // Spanned at the name, so that the error points at it.
        quote_spanned! {name.span()=>
            assert!(named(<#ty as ::ams_engine::Fields>::NAMES, #name), #message);
        }
    });
    let named = quote! {
        const fn named(names: &[&str], name: &str) -> bool {
            let mut i = 0;
            while i < names.len() {
                let (a, b) = (names[i].as_bytes(), name.as_bytes());
                if a.len() == b.len() {
                    let mut j = 0;
                    while j < a.len() && a[j] == b[j] {
                        j += 1;
                    }
                    if j == a.len() {
                        return true;
                    }
                }
                i += 1;
            }
            false
        }
    };
    if generic {
        // No constant item can name the kind's parameters: the same check, in `replace_on`.
        return quote! { { #named #(#asserts)* } };
    }
    quote! {
        const _: () = {
            #named
            #(#asserts)*
        };
    }
}

/// `#[derive(Fields)]`: the top-level names of a struct that kinds flatten into theirs.
#[proc_macro_derive(Fields)]
pub fn derive_fields(input: TokenStream) -> TokenStream {
    expand(parse_macro_input!(input as DeriveInput), fields)
}

fn fields(input: &DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    let names = named_fields(input)?
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref().map(|i| i.to_string()));
    Ok(quote! {
        impl ::ams_engine::Fields for #ident {
            const NAMES: &'static [&'static str] = &[#(#names),*];
        }
    })
}

/// The key serde writes for a field renamed with `#[serde(rename = "...")]`.
fn serde_rename(field: &syn::Field) -> Option<String> {
    let mut renamed = None;
    for attribute in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let value: LitStr = meta.value()?.parse()?;
                renamed = Some(value.value());
            } else if meta.input.peek(syn::Token![=]) {
                // Another `key = value` (default = "...", skip_serializing_if = "..."): skip it.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    renamed
}

fn is_flattened(field: &syn::Field) -> bool {
    field.attrs.iter().any(|a| {
        a.path().is_ident("serde")
            && a.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .to_string()
                    .split(',')
                    .any(|t| t.trim() == "flatten")
            })
    })
}

fn outputs(input: &DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    let vis = &input.vis;
    let handle = format_ident!("{}Ref", ident);
    let accessors = named_fields(input)?.named.iter().filter_map(|field| {
        let name = field.ident.as_ref()?;
        let key = name.to_string();
        let ty = &field.ty;
        let docs = field.attrs.iter().filter(|a| a.path().is_ident("doc"));
        Some(quote! {
            #(#docs)*
            pub fn #name(&self) -> ::ams_engine::Output<#ty> {
                ::ams_engine::Output::new(&self.resource, #key)
            }
        })
    });
    // `#[kind(updated)]` on an output: an update in place changes it.
    let mut updated = Vec::new();
    for field in &named_fields(input)?.named {
        for attribute in field.attrs.iter().filter(|a| a.path().is_ident("kind")) {
            attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("updated") {
                    if let Some(name) = &field.ident {
                        updated.push(name.to_string());
                    }
                    Ok(())
                } else {
                    Err(meta.error("expected `updated`"))
                }
            })?;
        }
    }
    let doc =
        format!("Typed references to the outputs of a resource whose outputs are [`{ident}`].");
    Ok(quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        #vis struct #handle {
            resource: ::std::string::String,
        }

        impl #handle {
            #(#accessors)*
        }

        impl ::ams_engine::Outputs for #ident {
            type Ref = #handle;
            const UPDATED: &'static [&'static str] = &[#(#updated),*];
            fn reference(resource: &str) -> #handle {
                #handle { resource: resource.to_string() }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(input: DeriveInput) -> String {
        kind(&input)
            .map(|t| t.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn replace_names_plain_fields_by_their_serde_key_and_flattened_ones_by_their_fields() {
        let out = derived(syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[kind(replace)]
                #[serde(rename = "cidr")]
                block: String,
                #[serde(flatten)]
                #[kind(replace)]
                machine: Machine,
                #[kind(secret)]
                password: String,
                free: String,
            }
        });
        assert!(out.contains("[\"cidr\"]"), "{out}");
        assert!(
            out.contains("< Machine as :: ams_engine :: Fields > :: NAMES"),
            "{out}"
        );
        assert!(out.contains("[\"password\"]"), "{out}");
        assert!(!out.contains("\"free\""), "{out}");
        assert!(!out.contains("const _"), "{out}");
    }

    #[test]
    fn an_immutable_kind_is_replaced_on_a_change_of_any_field() {
        let out = derived(syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs, immutable)]
            struct K {
                #[serde(rename = "cidr")]
                block: String,
                #[kind(secret)]
                password: String,
            }
        });
        let replace_on =
            &out[out.find("fn replace_on").expect(&out)..out.find("fn secret").expect(&out)];
        assert!(replace_on.contains("[\"cidr\"]"), "{out}");
        assert!(replace_on.contains("[\"password\"]"), "{out}");
        let redundant = derived(syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs, immutable)]
            struct K {
                #[kind(replace)]
                block: String,
            }
        });
        let refusal = "error: the kind is `immutable`";
        assert!(redundant.starts_with(refusal), "{redundant}");
    }

    #[test]
    fn except_leaves_fields_of_a_flattened_struct_out_and_checks_them_at_compile_time() {
        let out = derived(syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[serde(flatten)]
                #[kind(replace, except("instance_type", "user_data"))]
                machine: Machine,
            }
        });
        assert!(
            out.contains(
                "filter (| name | ! [\"instance_type\" , \"user_data\"] . contains (name))"
            ),
            "{out}"
        );
        assert!(out.starts_with("const _ : () ="), "{out}");
        assert!(
            out.contains("`user_data` is not a field of the flattened struct"),
            "{out}"
        );
    }

    #[test]
    fn except_of_a_generic_kind_is_checked_in_replace_on() {
        let out = derived(syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K<M> {
                #[serde(flatten)]
                #[kind(replace, except("a"))]
                machine: M,
            }
        });
        assert!(!out.starts_with("const _"), "{out}");
        let body = out.split("fn replace_on").nth(1).unwrap_or_default();
        assert!(body.contains("`a` is not a field"), "{out}");
    }

    #[test]
    fn except_is_refused_where_it_means_nothing() {
        let not_flattened: syn::DeriveInput = syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[kind(replace, except("a"))]
                machine: Machine,
            }
        };
        let without_replace: syn::DeriveInput = syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[serde(flatten)]
                #[kind(except("a"))]
                machine: Machine,
            }
        };
        let empty: syn::DeriveInput = syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[serde(flatten)]
                #[kind(replace, except())]
                machine: Machine,
            }
        };
        let unknown: syn::DeriveInput = syn::parse_quote! {
            #[kind(type_name = "t:s:K", outputs = KOutputs)]
            struct K {
                #[kind(forever)]
                machine: Machine,
            }
        };
        for (input, refusal) in [
            (not_flattened, "goes with `replace` on a flattened field"),
            (without_replace, "goes with `replace`"),
            (empty, "names at least one field"),
            (unknown, "expected `replace`"),
        ] {
            let out = derived(input);
            assert!(out.contains(refusal), "{refusal}: {out}");
        }
    }
}
