# frozen_string_literal: true

# Renders one BOSH job's ERB templates the way the BOSH director does, for one instance.
#
# Called by cf_mysql_consul_tools.bosh.render: a JSON request on stdin, a JSON result on stdout.
#
# Request:
#   { "job": "proxy", "instance": "proxy/0",
#     "spec": { "deployment", "job", "index", "bootstrap", "name", "id", "az",
#               "networks", "address", "ip" },                  # what `spec.*` shows
#     "property_defaults": { "proxy.port": 3306, "proxy.api_password": null, ... },
#     "manifest_properties": { ...nested hash... },
#     "consumes": { "link-name": { "optional": false } },
#     "links": { "link-name": { "instances": [...], "properties": {...}, "address": null } },
#     "templates": [ { "source": "proxy.yml.erb", "content": "..." } ] }
# Result:
#   { "rendered": { "proxy.yml.erb": "..." },
#     "errors": [ { "template": "proxy.yml.erb" | null, "line": 12 | null,
#                   "class": "RuntimeError", "message": "..." } ],
#     "properties_read": { "proxy.yml.erb": ["port", ...] } }   # every name given to p / if_p
#
# The names a template asked for (literal or computed, whether set or not) let the release lint
# tell which properties a template reads that its spec does not declare.
#
# Semantics follow Bosh::Template::EvaluationContext: only declared properties are bound (the
# spec's default under the manifest's value, nil counting as unset); `p`, `if_p`, `link`,
# `if_link`, `spec` as a deep OpenStruct; every template gets a fresh context; ERB runs with
# trim_mode '-'. Template output written to stdout goes to stderr so the result stays clean.

require 'erb'
require 'json'
require 'yaml'
require 'ostruct'
require 'shellwords'

module CfMysqlConsul
  # Same wording as BOSH: names is the array of names that were tried.
  class UnknownProperty < StandardError
    def initialize(names)
      super("Can't find property '#{names}'")
    end
  end

  class UnknownLink < StandardError
    def initialize(name)
      super("Can't find link '#{name}'")
    end
  end

  class InvalidPropertyType < StandardError; end

  # Dotted-name lookups shared by the context and links.
  module PropertyLookup
    def lookup_property(collection, name)
      name.to_s.split('.').reduce(collection) do |ref, key|
        return nil unless ref.is_a?(Hash)

        ref[key]
      end
    end

    def first_property(collection, args)
      names = Array(args[0])
      names.each do |name|
        value = lookup_property(collection, name)
        return value unless value.nil?
      end
      return args[1] if args.length == 2

      raise UnknownProperty, names
    end

    # The values of all names, or nil as soon as one is unset.
    def properties_if_set(collection, names)
      names.map do |name|
        value = lookup_property(collection, name)
        return nil if value.nil?

        value
      end
    end
  end

  # Returned by if_p/if_link when the block did not run: `.else { }` runs.
  class ActiveElseBlock
    def initialize(context)
      @context = context
    end

    def else
      yield
    end

    def else_if_p(*names, &block)
      @context.if_p(*names, &block)
    end

    def else_if_link(name, &block)
      @context.if_link(name, &block)
    end
  end

  # Returned when the block ran: `.else { }` does nothing.
  class InactiveElseBlock
    def else; end

    def else_if_p(*_names)
      self
    end

    def else_if_link(_name)
      self
    end
  end

  # One instance of a consumed link's provider.
  class LinkInstance
    attr_reader :name, :index, :id, :az, :address, :bootstrap, :properties

    def initialize(spec)
      @name = spec['name']
      @index = spec['index']
      @id = spec['id']
      @az = spec['az']
      @address = spec['address']
      @bootstrap = spec['bootstrap']
      @properties = spec['properties']
    end
  end

  # What `link("name")` returns.
  class Link
    include PropertyLookup
    attr_reader :instances, :properties

    def initialize(name, spec)
      @name = name
      @instances = (spec['instances'] || []).map { |i| LinkInstance.new(i) }
      @properties = spec['properties'] || {}
      @address = spec['address']
    end

    def p(*args)
      first_property(@properties, args)
    end

    def if_p(*names)
      values = properties_if_set(@properties, names)
      return ActiveElseBlock.new(self) if values.nil?

      yield(*values)
      InactiveElseBlock.new
    end

    # BOSH answers a DNS name for the providing group; we answer the address the caller gave.
    def address(_criteria = {})
      @address or raise "link '#{@name}' has no group address in this renderer (use instances[i].address)"
    end
  end

  # The object templates are evaluated against (self inside the ERB).
  class EvaluationContext
    include PropertyLookup
    attr_reader :name, :index, :spec, :properties, :raw_properties, :reads

    def initialize(spec, consumes, links)
      @reads = []
      @name = spec['name']
      @index = spec['index']
      @raw_properties = spec['properties'] || {}
      @spec = openstruct(spec)
      @properties = openstruct(@raw_properties)
      @consumes = consumes
      @links = links
    end

    def get_binding # rubocop:disable Naming/AccessorMethodName
      binding
    end

    # Keeps property values (passwords) out of NameError messages.
    def inspect
      "#<template context #{@name}/#{@index}>"
    end

    def p(*args)
      note(args[0])
      first_property(@raw_properties, args)
    end

    def if_p(*names)
      names.each { |n| note(n) }
      values = properties_if_set(@raw_properties, names)
      return ActiveElseBlock.new(self) if values.nil?

      yield(*values)
      InactiveElseBlock.new
    end

    def link(name)
      link_spec = @links[name] if @consumes.key?(name)
      raise UnknownLink, name if link_spec.nil?

      Link.new(name, link_spec)
    end

    # A missing link takes the else branch only when the spec declares it optional; a missing
    # required link is a deploy error in BOSH (link resolution), so it raises here.
    def if_link(name)
      declared = @consumes[name]
      link_spec = @links[name] if declared
      if link_spec.nil?
        raise UnknownLink, name unless declared && declared['optional']

        return ActiveElseBlock.new(self)
      end
      yield Link.new(name, link_spec)
      InactiveElseBlock.new
    end

    private

    def note(names)
      Array(names).each { |n| @reads << n.to_s }
    end

    def openstruct(object)
      case object
      when Hash then OpenStruct.new(object.transform_values { |v| openstruct(v) })
      when Array then object.map { |v| openstruct(v) }
      else object
      end
    end
  end

  module_function

  # The director's property binding: for each declared name, the manifest's value, else the
  # spec's default (nil when none), written at the same dotted path in a fresh hash.
  def bind_properties(defaults, manifest)
    bound = {}
    defaults.each do |name, default|
      keys = name.split('.')
      value = manifest
      keys.each do |key|
        unless value.is_a?(Hash)
          raise InvalidPropertyType, "Property '#{name}' expects a hash, but received '#{value.class}'"
        end

        value = value[key]
        break if value.nil?
      end
      ref = keys[0..-2].reduce(bound) { |h, key| h[key] ||= {} }
      ref[keys[-1]] = value.nil? ? default : value
    end
    bound
  end

  def deep_copy(object)
    Marshal.load(Marshal.dump(object))
  end

  def error_entry(exception, template, filename)
    text = exception.message.to_s
    pattern = /#{Regexp.escape(filename)}:(\d+)/ if filename
    line = nil
    if pattern
      hit = (exception.backtrace || []).find { |l| l.match?(pattern) }
      line = hit[pattern, 1].to_i if hit
      if exception.is_a?(SyntaxError) && (m = text.match(/\A#{pattern}: ?/))
        line ||= m[1].to_i
        text = m.post_match
      end
    end
    { 'template' => template, 'line' => line, 'class' => exception.class.name, 'message' => text.strip }
  end

  def render(request)
    spec = request['spec']
    spec['properties'] = bind_properties(request['property_defaults'], request['manifest_properties'] || {})
    spec['links'] = request['links']
    rendered = {}
    errors = []
    reads = {}
    request['templates'].each do |template|
      source = template['source']
      filename = "#{request['job']}/templates/#{source}"
      context = EvaluationContext.new(deep_copy(spec), request['consumes'], deep_copy(request['links']))
      begin
        erb = ERB.new(template['content'], trim_mode: '-')
        erb.filename = filename
        rendered[source] = erb.result(context.get_binding)
      rescue Exception => e # rubocop:disable Lint/RescueException -- as the director: exit, SyntaxError too
        errors << error_entry(e, source, filename)
      end
      reads[source] = context.reads.uniq
    end
    { 'rendered' => rendered, 'errors' => errors, 'properties_read' => reads }
  rescue InvalidPropertyType => e
    { 'rendered' => {}, 'errors' => [error_entry(e, nil, nil)], 'properties_read' => {} }
  end

  def main
    Encoding.default_external = Encoding::UTF_8
    $stdin.set_encoding(Encoding::UTF_8)
    request = JSON.parse($stdin.read)
    result_out = $stdout.dup
    $stdout.reopen($stderr)
    result = render(request)
    begin
      payload = JSON.generate(result)
    rescue JSON::GeneratorError, Encoding::UndefinedConversionError => e
      payload = JSON.generate('rendered' => {}, 'errors' => [error_entry(e, nil, nil)])
    end
    result_out.write(payload)
    result_out.flush
  end
end

CfMysqlConsul.main if $PROGRAM_NAME == __FILE__
