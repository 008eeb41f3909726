//! Derive macros for oxvirt's XML models.
//!
//! Hand-writing parse and format code for the hundreds of libvirt elements would be the same code
//! many times with small mistakes in each; a struct with field annotations is the schema instead.
//!
//! `#[derive(Xml)]` on a struct implements `FromXml` and `ToXml`. Field annotations:
//! - `#[xml(attr = "name")]`: an attribute (`T: XmlValue`; `Option<T>` when optional).
//! - `#[xml(child = "name")]`: a child element (`T: FromXml + ToXml`; `Option<T>`, `Vec<T>`).
//! - `#[xml(child_text = "name")]`: a child element holding only text (`T: XmlValue`; `Option`, `Vec`).
//! - `#[xml(flag = "name")]`: an empty child element whose presence is the value (`bool`).
//! - `#[xml(text)]`: the element's own text (`T: XmlValue`; `Option<T>`).
//! - `#[xml(flatten)]`: a struct whose attributes and children live in this same element.
//! - `#[xml(skip)]`: not in XML (`Default`).
//! - `#[xml(default)]` with `attr`/`child`/`child_text`: required in the model, optional in XML.
//!
//! A struct annotated `#[xml(root = "domain")]` also gets `XmlDocument`.
//!
//! `#[derive(XmlValue)]` on a fieldless enum maps variants to strings: `#[xml(rename = "...")]` per
//! variant, `#[xml(rename_all = "lowercase" | "kebab-case" | "snake_case" | "camelCase")]` on the enum
//! (default: lowercase).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, GenericArgument, LitStr, PathArguments, Type};

#[proc_macro_derive(Xml, attributes(xml))]
pub fn derive_xml(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match derive_xml_impl(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[proc_macro_derive(XmlValue, attributes(xml))]
pub fn derive_xml_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match derive_value_impl(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

enum Kind {
    Attr(String),
    Child(String),
    ChildText(String),
    Flag(String),
    Text,
    Flatten,
    Skip,
}

struct FieldSpec {
    kind: Kind,
    default: bool,
}

fn field_spec(field: &syn::Field) -> syn::Result<FieldSpec> {
    let mut kind = None;
    let mut default = false;
    for attr in &field.attrs {
        if !attr.path().is_ident("xml") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            let key =
                meta.path.get_ident().map(|i| i.to_string()).ok_or_else(|| meta.error("expected an identifier"))?;
            let mut set = |k: Kind| -> syn::Result<()> {
                if kind.is_some() {
                    return Err(meta.error("only one of attr/child/child_text/flag/text/flatten/skip"));
                }
                kind = Some(k);
                Ok(())
            };
            match key.as_str() {
                "attr" => set(Kind::Attr(meta.value()?.parse::<LitStr>()?.value())),
                "child" => set(Kind::Child(meta.value()?.parse::<LitStr>()?.value())),
                "child_text" => set(Kind::ChildText(meta.value()?.parse::<LitStr>()?.value())),
                "flag" => set(Kind::Flag(meta.value()?.parse::<LitStr>()?.value())),
                "text" => set(Kind::Text),
                "flatten" => set(Kind::Flatten),
                "skip" => set(Kind::Skip),
                "default" => {
                    default = true;
                    Ok(())
                }
                _ => Err(meta.error(format!("unknown xml field option `{key}`"))),
            }
        })?;
    }
    let kind = kind.ok_or_else(|| {
        syn::Error::new_spanned(field, "field needs #[xml(attr|child|child_text|flag|text|flatten|skip)]")
    })?;
    Ok(FieldSpec { kind, default })
}

enum Shape<'a> {
    Plain,
    Option(&'a Type),
    Vec(&'a Type),
}

fn shape(ty: &Type) -> Shape<'_> {
    if let Type::Path(tp) = ty {
        if tp.qself.is_none() {
            if let Some(seg) = tp.path.segments.last() {
                if let PathArguments::AngleBracketed(args) = &seg.arguments {
                    if let Some(GenericArgument::Type(inner)) = args.args.first() {
                        if seg.ident == "Option" {
                            return Shape::Option(inner);
                        }
                        if seg.ident == "Vec" {
                            return Shape::Vec(inner);
                        }
                    }
                }
            }
        }
    }
    Shape::Plain
}

fn container_root(input: &DeriveInput) -> syn::Result<Option<String>> {
    let mut root = None;
    for attr in &input.attrs {
        if !attr.path().is_ident("xml") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("root") {
                root = Some(meta.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(meta.error("unknown xml container option"))
            }
        })?;
    }
    Ok(root)
}

fn derive_xml_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => &n.named,
            _ => return Err(syn::Error::new_spanned(input, "Xml derive needs named fields")),
        },
        _ => return Err(syn::Error::new_spanned(input, "Xml derive supports structs only")),
    };

    let mut parse = Vec::new();
    let mut idents = Vec::new();
    let mut write_attrs = Vec::new();
    let mut write_content = Vec::new();
    for field in fields {
        let ident = field.ident.as_ref().expect("named field");
        let spec = field_spec(field)?;
        let ty = &field.ty;
        idents.push(ident);
        let p = match (&spec.kind, shape(ty)) {
            (Kind::Attr(n), Shape::Option(t)) => quote! { el.attr_opt::<#t>(#n)? },
            (Kind::Attr(n), Shape::Plain) if spec.default => {
                quote! { el.attr_opt::<#ty>(#n)?.unwrap_or_default() }
            }
            (Kind::Attr(n), Shape::Plain) => quote! { el.attr_req::<#ty>(#n)? },
            (Kind::Child(n), Shape::Option(t)) => quote! { el.child_opt::<#t>(#n)? },
            (Kind::Child(n), Shape::Vec(t)) => quote! { el.child_vec::<#t>(#n)? },
            (Kind::Child(n), Shape::Plain) if spec.default => {
                quote! { el.child_opt::<#ty>(#n)?.unwrap_or_default() }
            }
            (Kind::Child(n), Shape::Plain) => quote! { el.child_req::<#ty>(#n)? },
            (Kind::ChildText(n), Shape::Option(t)) => quote! { el.child_text_opt::<#t>(#n)? },
            (Kind::ChildText(n), Shape::Vec(t)) => quote! { el.child_text_vec::<#t>(#n)? },
            (Kind::ChildText(n), Shape::Plain) if spec.default => {
                quote! { el.child_text_opt::<#ty>(#n)?.unwrap_or_default() }
            }
            (Kind::ChildText(n), Shape::Plain) => quote! { el.child_text_req::<#ty>(#n)? },
            (Kind::Flag(n), _) => quote! { el.flag(#n)? },
            (Kind::Text, Shape::Option(t)) => quote! { el.text_opt::<#t>()? },
            (Kind::Text, _) => quote! { el.text_req::<#ty>()? },
            (Kind::Flatten, _) => quote! { <#ty as ::oxvirt_xml::FromXml>::from_xml(el)? },
            (Kind::Skip, _) => quote! { ::core::default::Default::default() },
            (Kind::Attr(_), Shape::Vec(_)) => {
                return Err(syn::Error::new_spanned(field, "an attribute cannot be a Vec"))
            }
        };
        parse.push(quote! { let #ident = #p; });

        match (&spec.kind, shape(ty)) {
            (Kind::Attr(n), Shape::Option(_)) => write_attrs.push(quote! {
                if let Some(v) = &self.#ident { w.attr(#n, &::oxvirt_xml::XmlValue::to_xml_value(v)); }
            }),
            (Kind::Attr(n), _) => write_attrs.push(quote! {
                w.attr(#n, &::oxvirt_xml::XmlValue::to_xml_value(&self.#ident));
            }),
            (Kind::Child(n), Shape::Option(_)) => write_content.push(quote! {
                if let Some(v) = &self.#ident { w.element(#n, v); }
            }),
            (Kind::Child(n), Shape::Vec(_)) => write_content.push(quote! {
                for v in &self.#ident { w.element(#n, v); }
            }),
            (Kind::Child(n), _) => write_content.push(quote! { w.element(#n, &self.#ident); }),
            (Kind::ChildText(n), Shape::Option(_)) => write_content.push(quote! {
                if let Some(v) = &self.#ident { w.text_element(#n, &::oxvirt_xml::XmlValue::to_xml_value(v)); }
            }),
            (Kind::ChildText(n), Shape::Vec(_)) => write_content.push(quote! {
                for v in &self.#ident { w.text_element(#n, &::oxvirt_xml::XmlValue::to_xml_value(v)); }
            }),
            (Kind::ChildText(n), _) => write_content.push(quote! {
                w.text_element(#n, &::oxvirt_xml::XmlValue::to_xml_value(&self.#ident));
            }),
            (Kind::Flag(n), _) => write_content.push(quote! {
                if self.#ident { w.empty_element(#n); }
            }),
            (Kind::Text, Shape::Option(_)) => write_content.push(quote! {
                if let Some(v) = &self.#ident { w.text(&::oxvirt_xml::XmlValue::to_xml_value(v)); }
            }),
            (Kind::Text, _) => write_content.push(quote! {
                w.text(&::oxvirt_xml::XmlValue::to_xml_value(&self.#ident));
            }),
            (Kind::Flatten, _) => {
                write_attrs.push(quote! { ::oxvirt_xml::ToXml::write_attrs(&self.#ident, w); });
                write_content.push(quote! { ::oxvirt_xml::ToXml::write_content(&self.#ident, w); });
            }
            (Kind::Skip, _) => {}
        }
    }

    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut out = quote! {
        impl #impl_generics ::oxvirt_xml::FromXml for #name #ty_generics #where_clause {
            fn from_xml(el: &mut ::oxvirt_xml::El<'_, '_>) -> ::core::result::Result<Self, ::oxvirt_xml::XmlError> {
                #(#parse)*
                Ok(Self { #(#idents),* })
            }
        }
        impl #impl_generics ::oxvirt_xml::ToXml for #name #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn write_attrs(&self, w: &mut ::oxvirt_xml::Writer) { #(#write_attrs)* }
            #[allow(unused_variables)]
            fn write_content(&self, w: &mut ::oxvirt_xml::Writer) { #(#write_content)* }
        }
    };
    if let Some(root) = container_root(input)? {
        out.extend(quote! {
            impl #impl_generics ::oxvirt_xml::XmlDocument for #name #ty_generics #where_clause {
                const ROOT: &'static str = #root;
            }
        });
    }
    Ok(out)
}

fn rename(ident: &str, rule: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in ident.chars() {
        if c.is_uppercase() && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    match rule {
        "kebab-case" => lower.join("-"),
        "snake_case" => lower.join("_"),
        "camelCase" => {
            let mut s = lower[0].clone();
            for w in &words[1..] {
                s.push_str(w);
            }
            s
        }
        "UPPERCASE" => ident.to_uppercase(),
        "PascalCase" => ident.to_string(),
        _ => lower.concat(),
    }
}

fn derive_value_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "XmlValue derive supports fieldless enums only"));
    };
    let mut rule = String::from("lowercase");
    for attr in &input.attrs {
        if attr.path().is_ident("xml") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    rule = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("unknown xml enum option"))
                }
            })?;
        }
    }
    let mut from_arms = Vec::new();
    let mut to_arms = Vec::new();
    let mut names = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(v, "XmlValue variants must be fieldless"));
        }
        let mut s = rename(&v.ident.to_string(), &rule);
        let mut aliases = Vec::new();
        for attr in &v.attrs {
            if attr.path().is_ident("xml") {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("rename") {
                        s = meta.value()?.parse::<LitStr>()?.value();
                        Ok(())
                    } else if meta.path.is_ident("alias") {
                        aliases.push(meta.value()?.parse::<LitStr>()?.value());
                        Ok(())
                    } else {
                        Err(meta.error("unknown xml variant option"))
                    }
                })?;
            }
        }
        let id = &v.ident;
        from_arms.push(quote! { #s #(| #aliases)* => Ok(Self::#id), });
        to_arms.push(quote! { Self::#id => ::std::borrow::Cow::Borrowed(#s), });
        names.push(s);
    }
    let expected = names.join(", ");
    Ok(quote! {
        impl ::oxvirt_xml::XmlValue for #name {
            fn from_xml_value(s: &str) -> ::core::result::Result<Self, ::std::string::String> {
                match s {
                    #(#from_arms)*
                    _ => Err(::std::format!("expected one of: {}", #expected)),
                }
            }
            fn to_xml_value(&self) -> ::std::borrow::Cow<'_, str> {
                match self { #(#to_arms)* }
            }
        }
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&::oxvirt_xml::XmlValue::to_xml_value(self))
            }
        }
    })
}
