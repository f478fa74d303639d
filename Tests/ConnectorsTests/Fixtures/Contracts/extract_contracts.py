#!/usr/bin/env python3
"""Extracts the parts of the ERP contracts that the connector contract tests check payloads against.

Run from the repository root when the reference pack changes (needs python3 and PyYAML):

    python3 Tests/ConnectorsTests/Fixtures/Contracts/extract_contracts.py ../shared/erp-specs

It writes, next to this script:
  xero-accounting.schemas.json     component schemas of Xero's official OpenAPI (xero/xero_accounting.yaml),
                                   the closure of what Invoices, Contacts and Payments reference
  quickbooks-online.xsd.json       element and attribute names and types of Intuit's V3 XSDs
                                   (Finance.xsd, IntuitBaseTypes.xsd, IntuitNamesTypes.xsd,
                                   IntuitRestServiceDef.xsd), flattened over xs:extension, for the complex
                                   types reachable from Invoice, Customer, Payment and IntuitBatchRequest

Each output records the SHA-256 of its sources; ContractTests recompute it when the pack is present and
fail when the fixture is stale.
"""
import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
XS = '{http://www.w3.org/2001/XMLSchema}'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- Xero (OpenAPI 3)

def extract_xero(pack):
    path = os.path.join(pack, 'xero', 'xero_accounting.yaml')
    with open(path) as f:
        spec = yaml.safe_load(f)
    schemas = spec['components']['schemas']
    roots = ['Invoices', 'Contacts', 'Payments', 'Error']
    out = {}

    def ref_name(node):
        return node['$ref'].split('/')[-1] if isinstance(node, dict) and '$ref' in node else None

    def simplify(node):
        result = {}
        name = ref_name(node)
        if name:
            target = schemas[name]
            if target.get('type') == 'object' or 'properties' in target:
                result['ref'] = name
                todo.append(name)
            else:  # enums such as CurrencyCode, LineAmountTypes: inline them
                result['type'] = target.get('type', 'string')
                if 'enum' in target:
                    result['enum'] = [str(v) for v in target['enum']]
        for key in ('type', 'format', 'maxLength', 'readOnly'):
            if key in node and key not in result:
                result[key] = node[key]
        if 'enum' in node and 'enum' not in result:
            result['enum'] = [str(v) for v in node['enum']]
        if node.get('type') == 'array':
            result['items'] = simplify(node['items'])
        return result

    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        schema = schemas[name]
        entry = {'type': schema.get('type', 'object'), 'properties': {}}
        out[name] = entry
        for prop, node in (schema.get('properties') or {}).items():
            entry['properties'][prop] = simplify(node)
    return {
        'source': 'xero/xero_accounting.yaml',
        'source_sha256': sha256(path),
        'spec_version': spec['info']['version'],
        'schemas': dict(sorted(out.items())),
    }


# ---------------------------------------------------------------- QuickBooks Online (XSD)

JSON_TYPES = {
    'string': 'string', 'normalizedString': 'string', 'token': 'string', 'date': 'string', 'dateTime': 'string',
    'time': 'string', 'anyURI': 'string', 'base64Binary': 'string', 'duration': 'string', 'gYear': 'string',
    'decimal': 'number', 'double': 'number', 'float': 'number',
    'int': 'integer', 'integer': 'integer', 'long': 'integer', 'short': 'integer', 'byte': 'integer',
    'positiveInteger': 'integer', 'nonNegativeInteger': 'integer', 'unsignedInt': 'integer',
    'boolean': 'boolean',
}


def extract_qbo(pack):
    folder = os.path.join(pack, 'quickbooks-online')
    files = ['IntuitBaseTypes.xsd', 'IntuitNamesTypes.xsd', 'Finance.xsd', 'IntuitRestServiceDef.xsd', 'SalesTax.xsd', 'Report.xsd']
    complex_types, simple_types, groups, substitution = {}, {}, {}, {}
    for name in files:
        root = ET.parse(os.path.join(folder, name)).getroot()
        for node in root.findall(XS + 'complexType'):
            complex_types[node.get('name')] = node
        for node in root.findall(XS + 'simpleType'):
            simple_types[node.get('name')] = node
        for node in root.findall(XS + 'group'):
            groups[node.get('name')] = node
        for node in root.findall(XS + 'element'):
            if node.get('substitutionGroup'):
                substitution.setdefault(node.get('substitutionGroup'), []).append((node.get('name'), node.get('type')))

    def local(type_name):
        return type_name.split(':')[-1] if type_name else None

    def simple(type_name):
        """JSON type and enumeration of a simple type."""
        name = local(type_name)
        if type_name and type_name.startswith('xs:'):
            return {'json': JSON_TYPES.get(name, 'string')}
        node = simple_types.get(name)
        if node is None:
            return {'json': 'string'}
        restriction = node.find(XS + 'restriction')
        if restriction is None:
            return {'json': 'string'}
        result = simple(restriction.get('base'))
        values = [e.get('value') for e in restriction.findall(XS + 'enumeration')]
        if values:
            result = dict(result, enum=values)
        return result

    # Entities that stand for xs:element ref="IntuitObject" (batch items, query results): the ones Ledgerline
    # writes and reads.
    batch_entities = {'Invoice', 'Customer', 'Payment'}
    out = {}

    def field_type(type_name):
        name = local(type_name)
        if name in complex_types:
            todo.append(name)
            return {'complex': name}
        return simple(type_name)

    def collect(node, elements, attributes):
        for child in node:
            tag = child.tag
            if tag == XS + 'element':
                repeated = child.get('maxOccurs') not in (None, '0', '1')
                if child.get('ref') == 'IntuitObject':
                    for member, member_type in substitution.get('IntuitObject', []):
                        if member in batch_entities:
                            elements[member] = dict(field_type(member_type), repeated=repeated)
                    continue
                if child.get('name') is None:
                    continue
                elements[child.get('name')] = dict(field_type(child.get('type') or 'xs:string'), repeated=repeated)
            elif tag == XS + 'attribute':
                attributes[child.get('name')] = field_type(child.get('type') or 'xs:string')
            elif tag == XS + 'group' and child.get('ref'):
                collect(groups[local(child.get('ref'))], elements, attributes)
            elif tag in (XS + 'sequence', XS + 'choice', XS + 'all', XS + 'complexContent', XS + 'simpleContent'):
                collect(child, elements, attributes)
            elif tag in (XS + 'extension', XS + 'restriction'):
                base = local(child.get('base'))
                if base in complex_types:
                    flatten(base)
                    elements.update(out[base]['elements'])
                    attributes.update(out[base]['attributes'])
                collect(child, elements, attributes)

    def flatten(name):
        if name in out:
            return
        node = complex_types[name]
        entry = {'elements': {}, 'attributes': {}}
        out[name] = entry
        simple_content = node.find(XS + 'simpleContent')
        if simple_content is not None:
            extension = simple_content.find(XS + 'extension')
            entry['simple_content'] = simple(extension.get('base'))['json']
        collect(node, entry['elements'], entry['attributes'])

    todo = ['Invoice', 'Customer', 'Payment', 'IntuitBatchRequest', 'IntuitResponse']
    while todo:
        flatten(todo.pop())
    return {
        'source': 'quickbooks-online/' + ', '.join(files),
        'source_sha256': {name: sha256(os.path.join(folder, name)) for name in files},
        'note': 'JSON keys equal XSD element and attribute names; a type with simple_content is an object '
                'with "value" plus its attributes; repeated elements are JSON arrays.',
        'types': dict(sorted(out.items())),
    }


def write(name, data):
    with open(os.path.join(HERE, name), 'w') as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write('\n')


if __name__ == '__main__':
    pack = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', '..', '..', '..', 'shared', 'erp-specs')
    write('xero-accounting.schemas.json', extract_xero(pack))
    write('quickbooks-online.xsd.json', extract_qbo(pack))
    print('wrote xero-accounting.schemas.json and quickbooks-online.xsd.json')
