//! The template engine against what Go's text/template prints.
use super::*;
use serde_json::json;

fn render(template: &str, value: &Value) -> Result<String, Error> {
    Template::parse(template)?.render(value)
}

#[test]
fn fields_nested_fields_and_functions_render() {
    let v = json!({"Id": "sha256:ab", "Config": {"Cmd": ["sh", "-c"], "Env": null},
                    "Labels": {"b": "2", "a": "1"}, "Size": 42, "Name": "Busy"});
    assert_eq!(render("{{.Id}}", &v).unwrap(), "sha256:ab");
    assert_eq!(
        render("id={{ .Id }}\\t{{.Size}}\\n", &v).unwrap(),
        "id=sha256:ab\t42\n"
    );
    assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
    assert_eq!(render("{{.Config.Env}}", &v).unwrap(), "<nil>");
    assert_eq!(render("{{.Labels}}", &v).unwrap(), "map[a:1 b:2]");
    assert_eq!(
        render("{{json .Config.Cmd}}", &v).unwrap(),
        r#"["sh","-c"]"#
    );
    assert_eq!(
        render("{{upper .Name}}/{{lower .Name}}", &v).unwrap(),
        "BUSY/busy"
    );
    let all = render("{{json .}}", &v).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&all).unwrap(), v);
}

#[test]
fn table_templates_have_a_header_row() {
    let t = Template::parse("table {{.Repository}}\\t{{.ID}}").unwrap();
    assert!(t.table);
    let header = t.header(|f| (f == "ID").then_some("IMAGE ID"));
    assert_eq!(header, "REPOSITORY\tIMAGE ID");
    assert!(!Template::parse("tablet {{.X}}").unwrap().table);
}

#[test]
fn unknown_fields_are_errors_that_name_them() {
    let err = render("x {{.Nope}}", &json!({"Id": "a"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: :1:3: executing \"\" at <.Nope>: can't evaluate field Nope"
    );
    assert_eq!(err.exit_code(), 125);
    assert!(render("{{.Id.Deeper}}", &json!({"Id": "a"})).is_err());
}

#[test]
fn range_if_and_variables_render_as_in_go() {
    let v = json!({"Networks": {"web": {"IPAddress": "10.0.0.2"}, "back": {"IPAddress": "10.1.0.2"}},
                    "Cmd": ["sh", "-c"], "Empty": [], "Name": "x", "Zero": 0});
    assert_eq!(
        render("{{range .Networks}}{{.IPAddress}} {{end}}", &v).unwrap(),
        "10.1.0.2 10.0.0.2 "
    );
    assert_eq!(
        render(
            "{{range $k, $v := .Networks}}{{$k}}={{$v.IPAddress}};{{end}}",
            &v
        )
        .unwrap(),
        "back=10.1.0.2;web=10.0.0.2;"
    );
    assert_eq!(
        render(
            "{{range $i, $a := .Cmd}}{{$i}}:{{$a}} {{$.Name}},{{end}}",
            &v
        )
        .unwrap(),
        "0:sh x,1:-c x,"
    );
    assert_eq!(
        render("{{range .Empty}}x{{else}}none{{end}}", &v).unwrap(),
        "none"
    );
    assert_eq!(
        render("{{range .Missing}}x{{end}}", &json!({"Missing": null})).unwrap(),
        ""
    );
    assert_eq!(
        render(
            "{{if .Name}}named{{else}}anonymous{{end}} {{if .Zero}}z{{end}}",
            &v
        )
        .unwrap(),
        "named "
    );
    assert!(render("{{range .Name}}x{{end}}", &v).is_err());
    assert!(render("{{$nope}}", &v).is_err());
}

#[test]
fn if_compares_with_eq_and_ne_and_negates_with_not() {
    let v = json!({"Mounts": [{"Name": "a", "Destination": "/x", "RW": true},
                              {"Name": "b", "Destination": "/y", "RW": false}]});
    assert_eq!(
        render(
            r#"{{range .Mounts}}{{if eq .Destination "/y"}}{{.Name}}{{end}}{{end}}"#,
            &v
        )
        .unwrap(),
        "b"
    );
    assert_eq!(
        render(
            r#"{{range .Mounts}}{{if ne .Name "a"}}{{.Name}}{{else}}-{{end}}{{end}}"#,
            &v
        )
        .unwrap(),
        "-b"
    );
    assert_eq!(
        render("{{range .Mounts}}{{if not .RW}}{{.Name}}{{end}}{{end}}", &v).unwrap(),
        "b"
    );
    assert!(render("{{if eq .Mounts}}x{{end}}", &v).is_err());
}

#[test]
fn hostile_templates_are_errors_not_panics() {
    for bad in [
        "{{",
        "{{.Id",
        "}}",
        "{{}}",
        "{{ }}",
        "{{foo .Id}}",
        "{{.Id .Id .Id}}",
        "{{Id}}",
        "{{..}}",
        "{{.a..b}}",
        "{{.1x}}",
        "{{.é\u{301}}}",
        "{{json}}}}",
        "{{{{.Id}}",
        "{{.Id}}{{",
        "{{\u{0}}}",
        "{{printf \"%s\" .Id}}",
        "{{.Id | json}}",
        "{{range .Id}}",
        "{{end}}",
        "{{else}}",
        "{{if .Id}}{{else}}{{else}}{{end}}",
        "{{range $a $b := .Id}}{{end}}",
        "{{range $a, := .Id}}{{end}}",
        "{{$a-b}}",
    ] {
        let result = render(bad, &json!({"Id": "a"}));
        assert!(result.is_err(), "{bad:?} rendered as {result:?}");
    }
    // Multi-byte text around actions keeps columns and slices on char boundaries.
    assert_eq!(render("é{{.Id}}ü", &json!({"Id": "ä"})).unwrap(), "éäü");
    let long = "{{.Id}}".repeat(10_000);
    assert_eq!(render(&long, &json!({"Id": "a"})).unwrap().len(), 10_000);
    let deep = format!("{}{}", "{{if .Id}}".repeat(100), "{{end}}".repeat(100));
    assert!(render(&deep, &json!({"Id": "a"})).is_err());
}

#[test]
fn index_len_and_join_work_as_in_go() {
    let v = json!({"RepoDigests": ["a@sha256:1", "a@sha256:2"],
                    "Labels": {"com.example.key": "v a l", "x": "1"},
                    "Args": ["-c", "echo hi"], "Nets": {"n1": {"IP": "10.0.0.2"}}});
    assert_eq!(
        render("{{index .RepoDigests 1}}", &v).unwrap(),
        "a@sha256:2"
    );
    assert_eq!(
        render(r#"{{index .Labels "com.example.key"}}"#, &v).unwrap(),
        "v a l"
    );
    assert_eq!(
        render(r#"[{{index .Labels "missing"}}]"#, &v).unwrap(),
        "[]"
    );
    assert_eq!(
        render(r#"{{index .Nets "n1" "IP"}}"#, &v).unwrap(),
        "10.0.0.2"
    );
    assert_eq!(
        render("{{len .RepoDigests}} {{len .Labels}}", &v).unwrap(),
        "2 2"
    );
    assert_eq!(render(r#"{{join .Args " "}}"#, &v).unwrap(), "-c echo hi");
    assert_eq!(render(r#"{{join .Args ", "}}"#, &v).unwrap(), "-c, echo hi");
    let err = render("{{index .RepoDigests 2}}", &v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("index out of range: 2"), "{err}");
    for bad in [
        "{{index .RepoDigests}}",
        "{{join .Args}}",
        "{{len .Args .Args}}",
        r#"{{join .Args "x}}"#,
        "{{nope .Args}}",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
    assert!(render(r#"{{index .Args "k"}}"#, &v).is_err());
    // A nil map or list (`null`) is empty, as in Go.
    let nil = json!({"Labels": null, "Args": null});
    assert_eq!(render(r#"[{{index .Labels "x"}}]"#, &nil).unwrap(), "[]");
    assert_eq!(
        render("{{len .Labels}} {{len .Args}}", &nil).unwrap(),
        "0 0"
    );
    assert_eq!(render(r#"[{{join .Args ","}}]"#, &nil).unwrap(), "[]");
    assert!(render("{{index .Args 0}}", &nil).is_err());
    assert!(render("{{len .Id}}", &json!({"Id": 3})).is_err());
}
