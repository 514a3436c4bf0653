//! Derives that let a resource kind be declared once, on its own fields.
//!
//! `#[derive(Kind)]` on a kind's arguments struct:
//!
//! ```text
//! #[derive(Serialize, Deserialize, Kind)]
//! #[kind(type_name = "aws:ec2:Vpc", outputs = VpcOutputs)]
//! pub struct Vpc {
//!     #[kind(replace)]
//!     pub cidr_block: Input<String>,
//! }
//! ```
//!
//! implements `ams_engine::Kind`: the type name, the outputs type, and the arguments whose
//! change forces a replacement (`#[kind(replace)]`) or whose value is secret (`#[kind(secret)]`),
//! taken from the fields that carry them, so no list of names is kept apart from the fields.
//!
//! `#[derive(Outputs)]` on a kind's outputs struct makes a typed accessor per field: a
//! `Ref<Vpc>` then offers `vpc.id()`, an `Output<String>` whose key is the field's name.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{parse_macro_input, Data, DeriveInput, Fields, LitStr, Type};

#[proc_macro_derive(Kind, attributes(kind))]
pub fn derive_kind(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    kind(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[proc_macro_derive(Outputs, attributes(kind))]
pub fn derive_outputs(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    outputs(&input)
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
    for attribute in input.attrs.iter().filter(|a| a.path().is_ident("kind")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("type_name") {
                type_name = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("outputs") {
                outputs_type = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `type_name = \"...\"` or `outputs = Type`"))
            }
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
    for field in &named_fields(input)?.named {
        let Some(name) = &field.ident else { continue };
        // A flattened struct's fields are top-level arguments: name them all.
        let names = if is_flattened(field) {
            let ty = &field.ty;
            quote! { <#ty as ::ams_engine::Fields>::NAMES.iter().copied() }
        } else {
            let name = serde_rename(field).unwrap_or_else(|| name.to_string());
            quote! { [#name] }
        };
        for attribute in field.attrs.iter().filter(|a| a.path().is_ident("kind")) {
            attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("replace") {
                    replace.push(names.clone());
                    Ok(())
                } else if meta.path.is_ident("secret") {
                    secret.push(names.clone());
                    Ok(())
                } else {
                    Err(meta.error("expected `replace` or `secret`"))
                }
            })?;
        }
    }
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::ams_engine::Kind for #ident #type_generics #where_clause {
            const TYPE: &'static str = #type_name;
            type Outputs = #outputs_type;
            fn replace_on() -> ::std::vec::Vec<&'static str> {
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

/// `#[derive(Fields)]`: the top-level names of a struct that kinds flatten into theirs.
#[proc_macro_derive(Fields)]
pub fn derive_fields(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    fields(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
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
            fn reference(resource: &str) -> #handle {
                #handle { resource: resource.to_string() }
            }
        }
    })
}
