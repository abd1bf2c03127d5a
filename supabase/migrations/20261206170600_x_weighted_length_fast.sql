-- private.x_weighted_length, faster: the URL pattern with twitter-text's 1,419 top-level domains
-- as one alternation costs milliseconds per text in Postgres' regex engine, which scheduling
-- 10,000 posts at once pays in full. Now each URL-like run is found with a pattern that takes any
-- top-level domain, and only when one of them is not a known TLD does the exact pattern run. The
-- result is the same (the property test pins it to twitter-text); only the time changes.

drop function private.x_url_pattern();

-- The regular expression (case-insensitive) for what X counts as a URL whose top-level domain
-- matches `tld`; group 1 is the character before it, group 3 the top-level domain.
create function private.x_url_pattern(tld text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select
    -- Not inside a word, a mention, a hashtag or a cashtag, nor right after . / - _.
    '(^|[^a-z0-9@$#\uFF20\uFF03._/-])'
    || '(https?://)?'
    || '(?:[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?\.)+'
    || '(' || tld || ')(?=[^0-9a-z@+-]|$)'
    || '(?::[0-9]{1,5})?'
    -- A path ends on a letter, digit or one of =_#/+- (so a sentence's full stop is not in it).
    || '(?:/(?:[a-z0-9!*'';:=+,.$/%#\[\]\u2013_~&|@\u00c0-\u024f\u0400-\u04ff-]*'
    || '[a-z0-9=_#/+\u00c0-\u024f\u0400-\u04ff-])?)?'
    || '(?:\?[a-z0-9!?*''();:&=+$/%#\[\]_.,~|@-]*[a-z0-9_&=#/-])?'
$$;
comment on function private.x_url_pattern(text) is
  'The regular expression (case-insensitive) for what X counts as a URL on top-level domains matching tld; group 3 is the TLD.';

-- The top-level domains twitter-text 3.1.0 recognises (validGTLD and validCCTLD, ASCII ones).
create function private.x_tlds()
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$
  select string_to_array(
    'northwesternmutual,travelersinsurance,americanexpress,kerryproperties,sandvikcoromant,' ||
    'afamilycompany,americanfamily,bananarepublic,cancerresearch,cookingchannel,kerrylogistics,' ||
    'weatherchannel,international,lifeinsurance,orientexpress,spreadbetting,travelchannel,' ||
    'wolterskluwer,construction,lplfinancial,pamperedchef,scholarships,versicherung,accountants,' ||
    'barclaycard,blackfriday,blockbuster,bridgestone,calvinklein,contractors,creditunion,engineering,' ||
    'enterprises,foodnetwork,investments,kerryhotels,lamborghini,motorcycles,olayangroup,photography,' ||
    'playstation,productions,progressive,redumbrella,rightathome,williamhill,accountant,apartments,' ||
    'associates,basketball,bnpparibas,boehringer,capitalone,consulting,creditcard,cuisinella,' ||
    'eurovision,extraspace,foundation,healthcare,immobilien,industries,management,mitsubishi,' ||
    'nationwide,newholland,nextdirect,onyourside,properties,protection,prudential,realestate,' ||
    'republican,restaurant,schaeffler,swiftcover,tatamotors,technology,telefonica,university,' ||
    'vistaprint,vlaanderen,volkswagen,accenture,alfaromeo,allfinanz,amsterdam,analytics,aquarelle,' ||
    'barcelona,bloomberg,christmas,community,directory,education,equipment,fairwinds,financial,' ||
    'firestone,fresenius,frontdoor,fujixerox,furniture,goldpoint,goodhands,hisamitsu,homedepot,' ||
    'homegoods,homesense,honeywell,institute,insurance,kuokgroup,ladbrokes,lancaster,landrover,' ||
    'lifestyle,marketing,marshalls,mcdonalds,melbourne,microsoft,montblanc,panasonic,passagens,' ||
    'pramerica,richardli,scjohnson,shangrila,solutions,statebank,statefarm,stockholm,travelers,' ||
    'vacations,yodobashi,abudhabi,airforce,allstate,attorney,barclays,barefoot,bargains,baseball,' ||
    'boutique,bradesco,broadway,brussels,budapest,builders,business,capetown,catering,catholic,' ||
    'chrysler,cipriani,cityeats,cleaning,clinique,clothing,commbank,computer,delivery,deloitte,' ||
    'democrat,diamonds,discount,discover,download,engineer,ericsson,esurance,etisalat,everbank,' ||
    'exchange,feedback,fidelity,firmdale,flsmidth,football,frontier,goodyear,grainger,graphics,' ||
    'guardian,hdfcbank,helsinki,holdings,hospital,infiniti,ipiranga,istanbul,jpmorgan,lighting,' ||
    'lundbeck,marriott,maserati,mckinsey,memorial,merckmsd,mortgage,movistar,mutuelle,observer,' ||
    'partners,pharmacy,pictures,plumbing,property,redstone,reliance,saarland,samsclub,security,' ||
    'services,shopping,showtime,softbank,software,stcgroup,supplies,symantec,telecity,training,' ||
    'uconnect,vanguard,ventures,verisign,woodside,yokohama,abogado,academy,agakhan,alibaba,android,' ||
    'athleta,auction,audible,auspost,avianca,banamex,bauhaus,bentley,bestbuy,booking,brother,bugatti,' ||
    'capital,caravan,careers,cartier,channel,charity,chintai,citadel,clubmed,college,cologne,comcast,' ||
    'company,compare,contact,cooking,corsica,country,coupons,courses,cricket,cruises,dentist,digital,' ||
    'domains,exposed,express,farmers,fashion,ferrari,ferrero,finance,fishing,fitness,flights,florist,' ||
    'flowers,forsale,frogans,fujitsu,gallery,genting,godaddy,grocery,guitars,hamburg,hangout,hitachi,' ||
    'holiday,hosting,hoteles,hotmail,hyundai,iselect,ismaili,jewelry,juniper,kitchen,komatsu,lacaixa,' ||
    'lancome,lanxess,lasalle,latrobe,leclerc,liaison,limited,lincoln,markets,metlife,monster,netbank,' ||
    'netflix,network,neustar,okinawa,oldnavy,organic,origins,panerai,philips,pioneer,politie,realtor,' ||
    'recipes,rentals,reviews,rexroth,samsung,sandvik,schmidt,schwarz,science,shiksha,shriram,singles,' ||
    'spiegel,staples,starhub,statoil,storage,support,surgery,systems,temasek,theater,theatre,tickets,' ||
    'tiffany,toshiba,trading,walmart,wanggou,watches,weather,website,wedding,whoswho,windows,winners,' ||
    'xfinity,yamaxun,youtube,zuerich,abarth,abbott,abbvie,active,africa,agency,airbus,airtel,alipay,' ||
    'alsace,alstom,anquan,aramco,author,bayern,beauty,berlin,bharti,blanco,bostik,boston,broker,' ||
    'camera,career,caseih,casino,center,chanel,chrome,church,circle,claims,clinic,coffee,comsec,' ||
    'condos,coupon,credit,cruise,dating,datsun,dealer,degree,dental,design,direct,doctor,doosan,' ||
    'dunlop,dupont,durban,emerck,energy,estate,events,expert,family,flickr,futbol,gallup,garden,' ||
    'george,giving,global,google,gratis,health,hermes,hiphop,hockey,hotels,hughes,imamat,insure,' ||
    'intuit,jaguar,joburg,juegos,kaufen,kinder,kindle,kosher,lancia,latino,lawyer,lefrak,living,' ||
    'locker,london,luxury,madrid,maison,makeup,market,mattel,mobile,mobily,monash,mormon,moscow,' ||
    'museum,mutual,nagoya,natura,nissan,nissay,norton,nowruz,office,olayan,online,oracle,orange,' ||
    'otsuka,pfizer,photos,physio,piaget,pictet,quebec,racing,realty,reisen,repair,report,review,' ||
    'rocher,rogers,ryukyu,safety,sakura,sanofi,school,schule,search,secure,select,shouji,soccer,' ||
    'social,stream,studio,supply,suzuki,swatch,sydney,taipei,taobao,target,tattoo,tennis,tienda,' ||
    'tjmaxx,tkmaxx,toyota,travel,unicom,viajes,viking,villas,virgin,vision,voting,voyage,vuelos,' ||
    'walter,warman,webcam,xihuan,xperia,yachts,yandex,zappos,actor,adult,aetna,amfam,amica,apple,' ||
    'archi,audio,autos,azure,baidu,beats,bible,bingo,black,boats,boots,bosch,build,canon,cards,chase,' ||
    'cheap,chloe,cisco,citic,click,cloud,coach,codes,crown,cymru,dabur,dance,deals,delta,dodge,drive,' ||
    'dubai,earth,edeka,email,epost,epson,faith,fedex,final,forex,forum,gallo,games,gifts,gives,glade,' ||
    'glass,globo,gmail,green,gripe,group,gucci,guide,homes,honda,horse,house,hyatt,iinet,ikano,intel,' ||
    'irish,iveco,jetzt,koeln,kyoto,lamer,lease,legal,lexus,lilly,linde,lipsy,lixil,loans,locus,lotte,' ||
    'lotto,lupin,macys,mango,media,miami,money,mopar,movie,nadex,nexus,nikon,ninja,nokia,nowtv,omega,' ||
    'onion,osaka,paris,parts,party,phone,photo,pizza,place,poker,praxi,press,prime,promo,quest,radio,' ||
    'rehab,reise,ricoh,rocks,rodeo,rugby,salon,sener,seven,sharp,shell,shoes,skype,sling,smart,smile,' ||
    'solar,space,sport,stada,store,study,style,sucks,swiss,tatar,tires,tirol,tmall,today,tokyo,tools,' ||
    'toray,total,tours,trade,trust,tunes,tushu,ubank,vegas,video,vista,vodka,volvo,wales,watch,weber,' ||
    'weibo,works,world,xerox,yahoo,zippo,aarp,able,adac,aero,aigo,akdn,ally,amex,arab,army,arpa,arte,' ||
    'asda,asia,audi,auto,baby,band,bank,bbva,beer,best,bike,bing,blog,blue,bofa,bond,book,buzz,cafe,' ||
    'call,camp,care,cars,casa,case,cash,cbre,cern,chat,citi,city,club,cool,coop,cyou,data,date,dclk,' ||
    'deal,dell,desi,diet,dish,docs,doha,duck,duns,dvag,erni,fage,fail,fans,farm,fast,fiat,fido,film,' ||
    'fire,fish,flir,food,ford,free,fund,game,gbiz,gent,ggee,gift,gmbh,gold,golf,goog,guge,guru,hair,' ||
    'haus,hdfc,help,here,hgtv,host,hsbc,icbc,ieee,imdb,immo,info,itau,java,jeep,jobs,jprs,kddi,kiwi,' ||
    'kpmg,kred,land,lego,lgbt,lidl,life,like,limo,link,live,loan,loft,love,ltda,luxe,maif,meet,meme,' ||
    'menu,mini,mint,mobi,moda,moto,mtpc,name,navy,news,next,nico,nike,ollo,open,page,pars,pccw,pics,' ||
    'ping,pink,play,plus,pohl,porn,post,prod,prof,qpon,raid,read,reit,rent,rest,rich,rmit,room,rsvp,' ||
    'ruhr,safe,sale,sapo,sarl,save,saxo,scor,scot,seat,seek,sexy,shaw,shia,shop,show,silk,sina,site,' ||
    'skin,sncf,sohu,song,sony,spot,star,surf,talk,taxi,team,tech,teva,tiaa,tips,town,toys,tube,vana,' ||
    'visa,viva,vivo,vote,voto,wang,weir,wien,wiki,wine,work,xbox,yoga,zara,zero,zone,aaa,abb,abc,aco,' ||
    'ads,aeg,afl,aig,anz,aol,app,art,aws,axa,bar,bbc,bbt,bcg,bcn,bet,bid,bio,biz,bms,bmw,bnl,bom,boo,' ||
    'bot,box,buy,bzh,cab,cal,cam,car,cat,cba,cbn,cbs,ceb,ceo,cfa,cfd,com,cpa,crs,csc,dad,day,dds,dev,' ||
    'dhl,diy,dnp,dog,dot,dtv,dvr,eat,eco,edu,esq,eus,fan,fit,fly,foo,fox,frl,ftr,fun,fyi,gal,gap,gay,' ||
    'gdn,gea,gle,gmo,gmx,goo,gop,got,gov,hbo,hiv,hkt,hot,how,htc,ibm,ice,icu,ifm,inc,ing,ink,int,ist,' ||
    'itv,iwc,jcb,jcp,jio,jlc,jll,jmp,jnj,jot,joy,kfh,kia,kim,kpn,krd,lat,law,lds,llc,llp,lol,lpl,ltd,' ||
    'man,map,mba,mcd,med,men,meo,mil,mit,mlb,mls,mma,moe,moi,mom,mov,msd,mtn,mtr,nab,nba,nec,net,new,' ||
    'nfl,ngo,nhk,now,nra,nrw,ntt,nyc,obi,off,one,ong,onl,ooo,org,ott,ovh,pay,pet,phd,pid,pin,pnc,pro,' ||
    'pru,pub,pwc,qvc,red,ren,ril,rio,rip,run,rwe,sap,sas,sbi,sbs,sca,scb,ses,sew,sex,sfr,ski,sky,soy,' ||
    'srl,srt,stc,tab,tax,tci,tdk,tel,thd,tjx,top,trv,tui,tvs,ubs,uno,uol,ups,vet,vig,vin,vip,wed,win,' ||
    'wme,wow,wtc,wtf,xin,xxx,xyz,you,yun,zip,ac,ad,ae,af,ag,ai,al,am,an,ao,aq,ar,as,at,au,aw,ax,az,ba,' ||
    'bb,bd,be,bf,bg,bh,bi,bj,bl,bm,bn,bo,bq,br,bs,bt,bv,bw,by,bz,ca,cc,cd,cf,cg,ch,ci,ck,cl,cm,cn,co,' ||
    'cr,cu,cv,cw,cx,cy,cz,de,dj,dk,dm,do,dz,ec,ee,eg,eh,er,es,et,eu,fi,fj,fk,fm,fo,fr,ga,gb,gd,ge,gf,' ||
    'gg,gh,gi,gl,gm,gn,gp,gq,gr,gs,gt,gu,gw,gy,hk,hm,hn,hr,ht,hu,id,ie,il,im,in,io,iq,ir,is,it,je,jm,' ||
    'jo,jp,ke,kg,kh,ki,km,kn,kp,kr,kw,ky,kz,la,lb,lc,li,lk,lr,ls,lt,lu,lv,ly,ma,mc,md,me,mf,mg,mh,mk,' ||
    'ml,mm,mn,mo,mp,mq,mr,ms,mt,mu,mv,mw,mx,my,mz,na,nc,ne,nf,ng,ni,nl,no,np,nr,nu,nz,om,pa,pe,pf,pg,' ||
    'ph,pk,pl,pm,pn,pr,ps,pt,pw,py,qa,re,ro,rs,ru,rw,sa,sb,sc,sd,se,sg,sh,si,sj,sk,sl,sm,sn,so,sr,ss,' ||
    'st,su,sv,sx,sy,sz,tc,td,tf,tg,th,tj,tk,tl,tm,tn,to,tp,tr,tt,tv,tw,tz,ua,ug,uk,um,us,uy,uz,va,vc,' ||
    've,vg,vi,vn,vu,wf,ws,ye,yt,za,zm,zw',
    ',')
$$;
comment on function private.x_tlds() is 'The top-level domains twitter-text 3.1.0 counts URLs on (ASCII ones), longest first.';

create or replace function private.x_weighted_length(p_text text)
returns integer
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  body text := normalize(coalesce(p_text, ''), nfc);
  url_pattern text := private.x_url_pattern('[a-z][a-z0-9-]*');
  urls integer;
  emoji integer;
  weight integer;
begin
  if exists (
    select from regexp_matches(body, url_pattern, 'gi') as m
    where lower(m[3]) <> all (private.x_tlds())
  ) then
    url_pattern := private.x_url_pattern(array_to_string(private.x_tlds(), '|'));
  end if;
  -- Each URL and each emoji becomes one placeholder of weight 1 (U+0001), then gets the rest
  -- of its weight (23 or 2) added back.
  urls := regexp_count(body, url_pattern, 1, 'i');
  body := regexp_replace(body, url_pattern, E'\\1\u0001', 'gi');
  emoji := regexp_count(body, private.x_emoji_pattern());
  body := regexp_replace(body, private.x_emoji_pattern(), E'\u0001', 'g');
  select coalesce(sum(
    case when cp <= 4351 or cp between 8192 and 8205 or cp between 8208 and 8223 or cp between 8242 and 8247
         then 1 else 2 end), 0)
  into weight
  from (select ascii(c) as cp from string_to_table(body, null) as c) as chars;
  return weight + urls * 22 + emoji;
end;
$$;
comment on function private.x_weighted_length(text) is
  'The length X gives a post (twitter-text 3.1.0''s weightedLength): URLs 23, emoji 2, CJK 2; at most 280 may be posted.';

revoke all on function private.x_url_pattern(text), private.x_tlds()
  from public, anon, authenticated, service_role;
