#!/usr/bin/env python3
"""Record what Python's jinja2 (3.1.6) renders for small templates that exercise one engine
feature each, set up as HF transformers' apply_chat_template sets it up (the same environment
as ../shared/tools/make_template_refs.py: sandboxed, trim_blocks, lstrip_blocks,
loopcontrols, generation, tojson without HTML escaping, raise_exception, strftime_now fixed
at 2026-12-01 09:30, namespace, dict).

Usage: make_jinja_cases.py OUT.json
Writes {"jinja2": version, "now", "vars": the variables every case renders with,
"cases": [{"name", "template", "text"} or {"name", "template", "error": {"type", "message", "line"}}]}.
"""
import json, sys
from datetime import datetime
import jinja2, jinja2.ext, jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime(2026, 12, 1, 9, 30, 0)

class Generation(jinja2.ext.Extension):
    tags = {"generation"}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)
    def _body(self, caller): return caller()

class TemplateNamespace(jinja2.utils.Namespace):
    def __init__(*args, **kwargs):
        self, args = args[0], args[1:]
        jinja2.utils.Namespace.__init__(self, dict(*args, **kwargs))

def env():
    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    def raise_exception(message): raise jinja2.exceptions.TemplateError(message)
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    e.globals["dict"] = dict
    e.globals["namespace"] = TemplateNamespace
    return e

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
V = {"messages": MSGS, "s": "  Hello, World  ", "n": 7, "f": 2.5, "xs": [3, 1, 2], "d": {"b": 2, "a": 1, "C": 3},
     "u": "héllo wörld ß", "crlf": "a\r\nb\rc\nd", "users": [{"name": "Ann", "age": 31, "admin": True},
     {"name": "bob", "age": 25, "admin": False}, {"name": "Cid", "age": 40}], "nested": {"a": {"b": [1, {"c": "deep"}]}},
     "empty": [], "none": None, "t": True}

CASES = [
    # output and Python str()
    ("print_values", "{{ n }}|{{ f }}|{{ t }}|{{ none }}|{{ xs }}|{{ d }}|{{ nested }}|{{ missing }}|{{ 1e20 }}|{{ 1/3 }}|{{ -0.0 }}|{{ 10/2 }}"),
    ("print_repr_quotes", """{{ ["it's", 'say "hi"', "both ' and \\"", "tab\\there", "nl\\n", "é🎉"] }}"""),
    ("print_tuple", "{{ (1,) }}{{ (1, 'a') }}{{ () }}{{ 1, 2 }}"),
    # whitespace control
    ("ws_trim_lstrip", "<ul>\n  {% for x in xs %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"),
    ("ws_minus", "a  \n  {{- n -}}  \n  b {%- if t %} c {% endif -%} \n d"),
    ("ws_plus", "a\n    {%+ if t %}x{% endif +%}\nb\n  {# c #}\nz"),
    ("ws_comment", "a{# one #}b\n{#- two -#}\n c {# three #}\nd"),
    ("ws_var_not_lstripped", "line\n    {{ n }}\n    {% if t %}yes{% endif %}\n"),
    ("ws_trailing_newline", "x\n"),
    ("ws_crlf_source", "a\r\n{% if t %}\r\nb\r\n{% endif %}\r\nc"),
    ("raw", "{% raw %}{{ not }} {% evaluated %}{% endraw %}|{%- raw -%}  x  {%- endraw -%}|"),
    # if / for / loop
    ("if_elif_else", "{% for i in [0, 1, 2, 3] %}{% if i == 0 %}zero{% elif i == 1 %}one{% elif i is even %}even{% else %}odd{% endif %},{% endfor %}"),
    ("loop_vars", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}"),
    ("loop_prev_next", "{% for x in xs %}{{ loop.previtem is defined }}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"),
    ("loop_cycle", "{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
    ("loop_filter_else", "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }} {% else %}none{% endfor %}|{% for x in empty %}x{% else %}empty{% endfor %}"),
    ("loop_break_continue", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("loop_dict_and_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}"),
    ("loop_string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}"),
    ("loop_scope", "{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }} {% endfor %}{{ x }}"),
    ("loop_nested", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}"),
    # set, namespace, with
    ("set_and_block_set", "{% set a = 1 %}{% set b, c = 2, 3 %}{% set block %}  A{{ a }}B  {% endset %}{{ a }}{{ b }}{{ c }}[{{ block }}]{% set t2 | trim | upper %}  x y  {% endset %}[{{ t2 }}]"),
    ("namespace", "{% set ns = namespace(count=0, items=[], seen=false) %}{% for x in xs %}{% set ns.count = ns.count + x %}{% set ns.items = ns.items + [x * 2] %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns.seen }}"),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}"),
    ("with_block", "{% with a = 1, b = n %}{{ a + b }}{% endwith %}{{ a is defined }}"),
    ("set_in_if_leaks", "{% if t %}{% set v = 'set in if' %}{% endif %}{{ v }}"),
    # macros and call
    ("macro_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }} {{ greet('Cy', 'Hi', '.') }}"),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}"),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}"),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ n }}{% endmacro %}{{ m() }}"),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside {{ n }}{% endcall %}"),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each(xs) %}<{{ x }}>{% endcall %}"),
    ("filter_block", "{% filter upper %}abc {{ s }}{% endfilter %}"),
    ("generation", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}"),
    # expressions
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7 / 2 }} {{ 1 + 2.5 }} {{ 3 * 'ab' }} {{ [1] * 2 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ -n }} {{ +n }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ not 1 == 2 }} {{ 1 ~ (2 + 3) }} {{ 'a' ~ 1 + 2 ~ 'b' if false else 'ok' }} {{ 'a' ~ 'b' is string }} {{ -1 | abs }} {{ 1 if none else 2 }} {{ 'x' if t }}|{{ 'y' if not t }}|"),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 'ab' in 'cabd' }} {{ 2 in xs }} {{ 'a' in d }} {{ 'z' not in d }} {{ none == none }} {{ missing == missing }} {{ 1 != '1' }}"),
    ("and_or_values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' or [] }} {{ none and 1 }} {{ missing or 'fallback' }}"),
    ("literals", "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] | tojson }} {{ {'a': 1, 'b': [1, 2]} | tojson }} {{ 'con' 'cat' }} {{ 1_000 }} {{ 'esc\\t\\u00e9\\x41\\n' | tojson }}"),
    ("subscripts_slices", "{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ 'hello'[1:4] }}{{ 'hello'[::-1] }}{{ 'héllo'[1] }}{{ nested.a.b[1].c }}{{ nested['a']['b'][0] }}{{ users.0.name }}{{ xs[5:] }}{{ xs[-10:1] }}"),
    ("attribute_vs_item", "{{ d.items is defined }} {{ d['items'] is defined }} {{ {'items': 5}['items'] }} {{ {'items': 5}.items() | list }} {{ d.zzz is defined }} {{ xs.10 is defined }}"),
    ("string_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ s.split(',') }}|{{ '  a  b c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ s.startswith('  H') }}|{{ s.endswith(('x', '  ')) }}|{{ u.upper() }}|{{ u.lower() }}|{{ u.title() }}|{{ 'hello world'.capitalize() }}|{{ s.replace('l', 'L') }}|{{ s.replace('l', 'L', 1) }}|{{ s.find('o') }}|{{ s.find('zz') }}|{{ s.count('l') }}|{{ '-'.join(['a', 'b']) }}|{{ 'x{}y{}'.format(1, 'z') }}|{{ '{0}{name}'.format('a', name='b') }}"),
    ("string_methods_more", "{{ 'abc'.isalpha() }}{{ '123'.isdigit() }}{{ ' '.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}|{{ 'a-b-c'.partition('-') }}|{{ '7'.zfill(3) }}|{{ 'x'.center(5, '*') }}|{{ 'ab'.ljust(4, '.') }}|{{ 'prefix_x'.removeprefix('prefix_') }}|{{ crlf.splitlines() }}|{{ crlf | length }}"),
    ("percent_format", "{{ '%s and %s' % ('a', 1) }} {{ '%d%%' % 50 }} {{ '%05.2f' % 3.14159 }} {{ '%r' % 'q' }} {{ '%(k)s' % {'k': 'v'} }}"),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d | length }} {{ d.items() }}"),
    ("list_methods", "{{ xs.index(1) }} {{ xs.count(3) }} {{ xs | length }}"),
    ("undefined_behaviour", "[{{ missing }}][{{ missing | default('dflt') }}][{{ missing | length }}][{{ missing | list }}][{{ missing is defined }}][{% for x in missing %}x{% endfor %}][{{ missing ~ 'cat' }}][{% if missing %}t{% else %}f{% endif %}][{{ d.zz }}][{{ missing | string }}][{{ missing | trim }}]"),
    # filters
    ("filters_text", "{{ s | trim }}|{{ 'xxhixx' | trim('x') }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello big-world (foo' | title }}|{{ u | title }}|{{ 'hELLO wORLD' | capitalize }}|{{ s | replace('o', '0') }}|{{ s | wordcount }}|{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb\\n\\nc' | indent(2, true, true) }}|{{ 'x\\ny' | indent('> ', first=true) }}|{{ '<a href=\"x\">&\\'</a>' | e }}|{{ '<b>' | safe }}"),
    ("filters_lists", "{{ xs | first }}{{ xs | last }}{{ xs | join('-') }}{{ xs | sort }}{{ xs | sort(reverse=true) }}{{ xs | sum }}{{ xs | min }}{{ xs | max }}{{ xs | reverse | list }}{{ 'abc' | reverse }}{{ [1, 2, 1, 3] | unique | list }}{{ ['B', 'a', 'b'] | unique | list }}{{ xs | list | length }}{{ [1, 2, 3, 4, 5] | batch(2) | list }}{{ [1, 2, 3] | batch(2, 0) | list }}"),
    ("filters_attr", "{{ users | map(attribute='name') | join(',') }}|{{ users | selectattr('admin') | map(attribute='name') | list }}|{{ users | rejectattr('admin') | map(attribute='name') | list }}|{{ users | selectattr('age', 'gt', 30) | map(attribute='name') | list }}|{{ users | selectattr('admin', 'defined') | list | length }}|{{ users | sort(attribute='name') | map(attribute='name') | list }}|{{ users | sum(attribute='age') }}|{{ users | max(attribute='age') }}|{{ users | join(', ', attribute='name') }}|{{ users | map(attribute='admin', default='?') | list }}"),
    ("filters_select", "{{ range(10) | select('odd') | list }}{{ range(10) | reject('divisibleby', 3) | list }}{{ [0, 1, '', 'a', none] | select | list }}{{ ['a', 'B'] | map('upper') | list }}{{ [1, 2] | map('string') | list }}{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}{{ messages | map(attribute='role') | unique | list }}"),
    ("filters_dict", "{{ d | dictsort }}{{ d | dictsort(true) }}{{ d | dictsort(by='value', reverse=true) }}{{ d | items | list }}{{ d | list }}"),
    ("filters_numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(-1) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ -3 | abs }} {{ -2.5 | abs }} {{ 5 | string }}{{ 5 | string | length }} {{ n | float }}"),
    ("filters_default", "{{ none | default('x') }} {{ '' | default('x') }} {{ '' | default('x', true) }} {{ missing | d('y') }} {{ 0 | default(1, boolean=true) }}"),
    ("filters_count_length", "{{ 'héllo' | length }} {{ 'héllo' | count }} {{ xs | count }} {{ d | length }} {{ u | length }}"),
    ("tojson_options", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ {'k': 'é<&>'} | tojson }}|{{ {'k': 'é🎉'} | tojson(ensure_ascii=true) }}|{{ xs | tojson(separators=(',', ':')) }}|{{ nested | tojson(indent=1, sort_keys=true) }}|{{ [] | tojson(indent=2) }}|{{ {} | tojson }}|{{ [1.0, 1e20, 0.1, none, true] | tojson }}|{{ 'ctl\\u0001\\u001f' | tojson }}|{{ (1, 2) | tojson }}|{{ {1: 'int key', none: 'n'} | tojson }}|{{ users[0] | tojson(indent='\\t') }}"),
    ("tojson_messages", "{{ messages | tojson }}"),
    # tests
    ("tests_types", "{{ 'a' is string }}{{ 1 is string }}{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 1 is integer }}{{ 1.0 is integer }}{{ 1.5 is float }}{{ true is boolean }}{{ 1 is boolean }}{{ d is mapping }}{{ xs is mapping }}{{ xs is sequence }}{{ 'a' is sequence }}{{ d is sequence }}{{ 1 is sequence }}{{ xs is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ range is callable }}{{ 'a' is callable }}{{ none is none }}{{ 0 is none }}"),
    ("tests_values", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 3 is odd }}{{ 3 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 'abc' is lower }}{{ 'aBc' is lower }}{{ 'ABC' is upper }}{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ none is sameas none }}{{ true is sameas true }}{{ 2 is in xs }}{{ 'x' is in 'xyz' }}{{ 1 is not eq 2 }}{{ missing is undefined }}{{ n is defined }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}{{ 2 is ge 2 }}"),
    # globals
    ("unknown_filter_not_evaluated", "{% if false %}{{ x | from_json }}{% endif %}{{ 1 | nosuch if false else 'ok' }}"),
    ("index_after_dot", "{% set matrix = [[1, [2, 3]], [4]] %}{{ matrix.0.1 }}{{ matrix.0.1.1 }}{{ matrix.1.0 }}"),
    ("split_maxsplit_keeps_tail", "[{{ ' 1 2 3 '.split(none, 1) }}][{{ ' 1 2 3 '.split(none, 0) }}][{{ 'a b  '.rsplit(none, 1) }}]"),
    ("sort_equal_nones_and_multi_attribute", "{{ [none, none] | sort }}{{ users | sort(attribute='age,name') | map(attribute='name') | list }}"),
    ("call_spread", "{% macro mul(a, b, c=1) %}{{ a * b * c }}{% endmacro %}{{ mul(*[2, 3]) }} {{ mul(**{'a': 2, 'b': 5}) }} {{ mul(2, *[3], c=4) }}"),
    ("odd_even_floats_and_case_tests", "{{ 2.5 is odd }}{{ 3.0 is odd }}{{ 4.0 is divisibleby 2 }}{{ '' is upper }}{{ '12' is lower }}{{ 'aB1' is lower }}{{ 'ÉA' is upper }}"),
    ("reverse_kinds", "{{ d | reverse | list }}{{ d.items() | reverse | list }}{{ xs | map('string') | reverse | list }}{{ (1, 2) | reverse | list }}"),
    ("round_bool_and_empty_minmax", "{{ true | round }} {{ empty | max is defined }} {{ 3.14159 | round(2, 'floor') }}"),
    ("markup_concatenation", "{{ '<b>' | safe + '<i>' }} {{ '<x>' + ('&' | safe) }} {{ ('<a>' | e) ~ '<c>' }} {{ ('%s>' | safe) % '<' }} {{ ('<p>' | safe) | upper }} {{ '<p>' | safe | length }}"),
    ("select_on_none_is_empty", "{{ none | selectattr('x') | list }}{{ missing | map('upper') | list }}{{ none | reject | list }}"),
    ("loop_else_counts_finished_iterations", "{% for i in [1, 2, 3] %}{% break %}{% else %}E1{% endfor %}|{% for i in [1, 2] %}{% if i == 2 %}{% break %}{% endif %}{% else %}E2{% endfor %}|{% for i in [1] %}{% continue %}{% else %}E3{% endfor %}"),
    ("macro_extra_arguments_when_read", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"),
    ("scope_store_first_is_unset_in_inner_frames", "{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 2 %}[{{ n }}]"),
    ("scope_read_first_takes_the_variable", "[{{ n }}]{% set n = 2 %}{% for i in [1] %}[{{ n }}]{% endfor %}"),
    ("scope_branch_store_falls_back", "{% if false %}{% set n = 1 %}{% endif %}[{{ n }}]{% for i in [1] %}{% if false %}{% set t = 1 %}{% endif %}[{{ t }}]{% endfor %}"),
    ("scope_macro_sees_later_assignment", "{% macro m() %}[{{ n }}]{% endmacro %}{{ m() }}{% set n = 5 %}{{ m() }}"),
    ("scope_inner_loop_aliases_outer_reference", "{% for i in [1] %}{% for j in [1] %}[{{ n }}]{% endfor %}{% set n = 3 %}{% endfor %}[{{ n }}]"),
    ("scope_generation_body_is_a_frame", "{% generation %}{% set g = 1 %}{{ g }}{% endgeneration %}[{{ g }}]"),
    ("globals", "{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(5, 0, -2) | list }}{{ dict(a=1, b='x') }}{{ dict([('k', 1)]) }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d, %y %I%p %j') }}"),
    ("chat_like", "{{ bos_token }}{% for m in messages %}{% if loop.first and m.role == 'system' %}<<SYS>>{{ m.content | trim }}<</SYS>>\n{% elif m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %} {{ m.content }}{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"),
]
CHAT_VARS = {"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": True}
VARS = dict(V, **CHAT_VARS)

ERRORS = [
    ("err_unknown_tag", "line one\n{% frobnicate %}"),
    ("err_unclosed_if", "{% if t %}\nyes\n"),
    ("err_unclosed_for", "a\n{% for x in xs %}\n{{ x }}"),
    ("err_mismatched_end", "{% if t %}\n{% endfor %}"),
    ("err_unclosed_print", "hello {{ n \n"),
    ("err_bad_expression", "ok\n{{ 1 + }}"),
    ("err_unexpected_bracket", "{{ xs] }}"),
    ("err_unclosed_comment", "a {# never closed"),
    ("err_raise_exception", "a\n{{ raise_exception('Only user and assistant roles are supported!') }}"),
    ("err_undefined_attribute", "{{ missing.attr }}"),
    ("err_undefined_call", "x\n{{ missing() }}"),
    ("err_dict_attr_chain", "\n\n{{ d.zz.yy }}"),
    ("err_add_types", "{{ 'a' + 1 }}"),
    ("err_add_int_str", "{{ 1 + 'a' }}"),
    ("err_concat_binds_tighter_than_plus", "{{ 1 ~ 2 + 3 }}"),
    ("err_division_by_zero", "{{ 1 / 0 }}"),
    ("err_list_append_sandbox", "{% set l = [] %}{{ l.append(1) }}"),
    ("err_tojson_undefined", "{{ missing | tojson }}"),
    ("err_tojson_generator", "{{ xs | map('string') | tojson }}"),
    ("err_length_of_int", "{{ n | length }}"),
    ("err_iterate_none", "{% for x in none %}{% endfor %}"),
    ("err_unknown_filter", "{{ n | nosuchfilter }}"),
    ("err_unknown_test", "{{ n is nosuchtest }}"),
    ("err_unknown_filter_in_loop", "{% for x in xs %}\n{{ x | nosuchfilter }}{% endfor %}"),
    ("err_unknown_filter_guarded_by_if", "{% if t %}\n{{ x | nosuchfilter }}{% endif %}"),
    ("err_unknown_test_in_inline_if", "{{ (n is nosuchtest) if t else 1 }}"),
    ("err_compare_types", "{{ 1 < 'a' }}"),
    ("err_set_attr_non_namespace", "{% set d2 = {} %}{% set d2.x = 1 %}"),
    ("err_items_non_mapping", "{{ xs | items | list }}"),
    ("err_compare_names_operator", "{{ [] >= 'a' }}"),
    ("err_slice_of_int", "{{ n[1:] }}"),
    ("err_power_types", "{{ 'a' ** 2 }}"),
    ("err_macro_too_many_arguments", "{% macro m(a, b=2) %}{{ a }}{% endmacro %}{{ m(1, 2, 3) }}"),
    ("err_macro_unknown_keyword", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, c=3) }}"),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
]

def main():
    out = sys.argv[1]
    E = env()
    cases = []
    for name, src in CASES:
        print(name, file=sys.stderr) if "-v" in sys.argv else None
        cases.append({"name": name, "template": src, "text": E.from_string(src).render(**VARS)})
    for name, src in ERRORS:
        vars = VARS
        c = {"name": name, "template": src}
        try:
            c["text"] = E.from_string(src).render(**vars)
            raise SystemExit(f"{name} rendered without error")
        except jinja2.exceptions.TemplateSyntaxError as ex:
            c.pop("text", None)
            c["error"] = {"type": type(ex).__name__, "message": ex.message, "line": ex.lineno}
        except Exception as ex:
            c.pop("text", None)
            c["error"] = {"type": type(ex).__name__, "message": str(ex)}
        cases.append(c)
    json.dump({"jinja2": jinja2.__version__, "now": NOW.isoformat(), "vars": VARS, "cases": cases}, open(out, "w"), ensure_ascii=False, indent=1)
    print(f"{len(cases)} cases, jinja2 {jinja2.__version__}")

main()
