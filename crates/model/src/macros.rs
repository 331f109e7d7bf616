//! Declarative macros that generate the closed Graph types and their JSON glue.

/// Implements `GraphType`, `serde::Serialize` and `serde::Deserialize` for a type that already
/// implements the crate-private `Json` trait.
macro_rules! impl_graph_type {
    ($name:ident, $type_name:literal) => {
        impl $crate::GraphType for $name {
            const TYPE_NAME: &'static str = $type_name;

            fn from_graph_value(value: serde_json::Value) -> Result<Self, $crate::ModelError> {
                $crate::json::read_root(value)
            }

            fn to_graph_value(&self) -> serde_json::Value {
                $crate::json::Json::write(self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::json::Json::stream(self, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
                $crate::json::read_root(v).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Declares a closed Graph type: the struct, its reader (unknown properties refused, annotations
/// ignored) and its writer (every declared property emitted, `null` when absent, in declaration
/// order, `@odata.type` first when given).
///
/// Each field names its JSON property and a reading mode, one of the functions of `json`:
/// `req` (required, non-nullable), `opt` (nullable), `dflt` (non-nullable with a default),
/// `key` (required entity key), `opt_key` (optional entity key).
macro_rules! graph_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $type_name:literal $(, odata_type = $odata_type:literal)? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $fty:ty = $json_name:literal, $mode:ident;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = concat!("\n\nJSON: `", $json_name, "`.")]
                pub $field: $fty,
            )*
        }

        impl $name {
            /// JSON property names, in emission order.
            pub const PROPERTIES: &'static [&'static str] = &[$($json_name),*];
        }

        impl $crate::json::Json for $name {
            fn read(
                v: serde_json::Value,
                p: &mut $crate::json::Path,
            ) -> Result<Self, $crate::ModelError> {
                let mut o = $crate::json::object(v, p)?;
                $crate::json::check_keys(&o, Self::PROPERTIES, $type_name, p)?;
                Ok(Self {
                    $( $field: $crate::json::$mode(&mut o, $json_name, p)?, )*
                })
            }

            fn write(&self) -> serde_json::Value {
                let mut m = serde_json::Map::new();
                $(
                    m.insert(
                        "@odata.type".to_owned(),
                        serde_json::Value::String($odata_type.to_owned()),
                    );
                )?
                $(
                    m.insert(
                        $json_name.to_owned(),
                        $crate::json::Json::write(&self.$field),
                    );
                )*
                serde_json::Value::Object(m)
            }

            fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                $( m.serialize_entry("@odata.type", $odata_type)?; )?
                $( m.serialize_entry($json_name, &$crate::json::Streamed(&self.$field))?; )*
                m.end()
            }
        }

        impl_graph_type!($name, $type_name);

        impl $crate::schema::Edm for $name {
            fn type_ref() -> $crate::schema::TypeRef {
                $crate::schema::TypeRef::named($type_name)
            }

            fn visit(c: &mut $crate::schema::Collector) {
                let declared = c.structured($crate::schema::StructuredType {
                    name: $type_name,
                    properties: vec![$(
                        $crate::schema::Property::new(
                            $json_name,
                            <$fty as $crate::schema::Edm>::type_ref(),
                            stringify!($mode),
                        ),
                    )*],
                    ..Default::default()
                });
                if declared {
                    $( <$fty as $crate::schema::Edm>::visit(c); )*
                }
            }
        }
    };
}
