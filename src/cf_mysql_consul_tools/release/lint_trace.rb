# frozen_string_literal: true

# The release lint's renderer: render.rb's evaluation, plus a record of every property name a
# template asked for through `p` or `if_p` (literal or computed), so the lint can tell which
# properties a template reads that its spec does not declare. Same request on stdin as
# render.rb; the result gains "properties_read": { "template source" => ["a.b", ...] }.

require_relative 'render'

module CfMysqlConsul
  # Prepended to the evaluation context: notes the names, then does what the context does.
  module PropertyTrace
    def p(*args)
      note_names(args[0])
      super
    end

    def if_p(*names, &block)
      names.each { |n| note_names(n) }
      super
    end

    private

    def note_names(names)
      Array(names).each { |n| $cf_mysql_consul_reads << n.to_s }
    end
  end

  EvaluationContext.prepend(PropertyTrace)

  module_function

  def traced_main
    Encoding.default_external = Encoding::UTF_8
    $stdin.set_encoding(Encoding::UTF_8)
    request = JSON.parse($stdin.read)
    result_out = $stdout.dup
    $stdout.reopen($stderr)
    reads = {}
    result = { 'rendered' => {}, 'errors' => [] }
    request['templates'].each do |template|
      $cf_mysql_consul_reads = []
      one = render(request.merge('templates' => [template]))
      result['rendered'].merge!(one['rendered'])
      result['errors'].concat(one['errors'])
      reads[template['source']] = $cf_mysql_consul_reads.uniq
    end
    result['properties_read'] = reads
    result_out.write(JSON.generate(result))
    result_out.flush
  end
end

CfMysqlConsul.traced_main if $PROGRAM_NAME == __FILE__
